#!/bin/sh
# mkdevnet.sh — create the dev network's PKI, keys and directory source.
#
# usage: certs/mkdevnet.sh [--test-certs] [--base-port N] [--parties FILE]
#                          [--force] OUTDIR
#
# Makes, with OpenSSL only:
#   OUTDIR/ca.crt, ca/            the chain CA (Ed25519) and its `openssl ca`
#                                 database; ca/ca.key is the CA's private key
#   OUTDIR/crl.pem                the CA's CRL (valid 365 days)
#   OUTDIR/parties/SLUG/          per party:
#       sign.key  sign.crt        Ed25519 signing key, certificate with the
#                                 OIN as subject serialNumber
#       seal.key  seal.pub        X25519 key that payloads are sealed to
#       curve.key curve.pub       X25519 key of the CurveZMQ transport
#       oin                       the party's OIN
#   OUTDIR/directory.json         the directory source, for
#                                 `keten directory sign`
#   OUTDIR/directory.signed       the directory signed by the authority
#                                 (when the keten CLI is built)
#   OUTDIR/mandates.bundle        the mandates of the dev network (what each
#                                 role may send, the relay's right to relay),
#                                 issued by the authority (keten CLI built)
#   OUTDIR/authority.oin          the OIN of the network authority
#   OUTDIR/parties.txt            the party list used (ports adjusted)
#   OUTDIR/nodes/SLUG.conf        a ketend configuration per party, with
#                                 state under OUTDIR/state/SLUG and the
#                                 local socket OUTDIR/run/SLUG/case.sock
# With --test-certs also OUTDIR/test/: certificates a node must refuse
# (expired.crt, notyet.crt, revoked.crt (on the CRL), wrongca.crt and
# wrongca.key (issued by another CA, for the authority's OIN),
# wrongusage.crt (keyCertSign instead of digitalSignature)).
#
# --base-port N moves every node port by N - 7400 (tests pick free ports).
# --user NAME: the account the nodes run as when started as root (default
# keten when run as root, made if missing); it owns keys and state.
# An OUTDIR that already holds a PKI is left alone unless --force is given.
# Private keys are mode 0600 in directories of mode 0700.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
parties="$here/../conf/devnet.parties"
test_certs=0
base=7400
force=0
# ketend refuses to run as root: as root, the nodes run as this account
# (made if missing) and it owns the keys and state.
user=""
[ "$(id -u)" -eq 0 ] && user=keten
while [ $# -gt 0 ]; do
	case "$1" in
	--test-certs) test_certs=1 ;;
	--base-port) base=$2; shift ;;
	--parties) parties=$2; shift ;;
	--force) force=1 ;;
	--user) user=$2; shift ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//; /^set -eu/d'; exit 0 ;;
	-*) echo "mkdevnet.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
[ $# -eq 1 ] || { echo "usage: mkdevnet.sh [--test-certs] [--base-port N] [--parties FILE] [--user NAME] [--force] OUTDIR" >&2; exit 2; }
out=$1
case "$base" in ''|*[!0-9]*) echo "mkdevnet.sh: --base-port: not a number" >&2; exit 2 ;; esac
[ -r "$parties" ] || { echo "mkdevnet.sh: $parties: cannot read" >&2; exit 1; }

if [ -f "$out/ca.crt" ] && [ $force -eq 0 ]; then
	echo "mkdevnet.sh: $out already holds a dev PKI (use --force to make a new one)"
	exit 0
fi
rm -rf "$out"
umask 077
mkdir -p "$out/ca/newcerts" "$out/parties"
out=$(cd "$out" && pwd)
: >"$out/ca/index.txt"
echo 1000 >"$out/ca/serial"
echo 1000 >"$out/ca/crlnumber"

cnf="$out/ca/openssl.cnf"
cat >"$cnf" <<EOF
[ ca ]
default_ca = chain

[ chain ]
dir              = $out/ca
database         = \$dir/index.txt
new_certs_dir    = \$dir/newcerts
certificate      = $out/ca.crt
private_key      = \$dir/ca.key
serial           = \$dir/serial
crlnumber        = \$dir/crlnumber
default_md       = default
default_days     = 825
default_crl_days = 365
policy           = policy_party
unique_subject   = no
copy_extensions  = none
email_in_dn      = no

[ policy_party ]
countryName      = supplied
organizationName = supplied
commonName       = supplied
serialNumber     = supplied

[ policy_ca ]
countryName      = supplied
organizationName = supplied
commonName       = supplied

[ req ]
distinguished_name = dn
prompt           = no
[ dn ]
CN = unused

[ v3_ca ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ party ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[ wrongusage ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, keyCertSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
EOF

ossl() {
	if ! openssl "$@" >"$out/ca/last.log" 2>&1; then
		echo "mkdevnet.sh: openssl $1 failed:" >&2
		cat "$out/ca/last.log" >&2
		exit 1
	fi
}

# Everything is backdated an hour so that nodes whose clocks run a little
# behind the CA's still accept it.
since=$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)

# The chain CA.
ossl genpkey -algorithm ed25519 -out "$out/ca/ca.key"
ossl req -config "$cnf" -new -key "$out/ca/ca.key" \
	-subj "/C=NL/O=keten dev/CN=keten dev chain CA" -out "$out/ca/ca.csr"
ossl ca -config "$cnf" -batch -notext -selfsign -keyfile "$out/ca/ca.key" -extensions v3_ca \
	-policy policy_ca -startdate "$since" -days 3650 -in "$out/ca/ca.csr" -out "$out/ca.crt"
rm -f "$out/ca/ca.csr"

# issue DIR SLUG OIN ORG [ca options...]: key and certificate in DIR.
issue() {
	d=$1 slug=$2 oin=$3 org=$4
	shift 4
	ossl genpkey -algorithm ed25519 -out "$d/sign.key"
	ossl req -config "$cnf" -new -key "$d/sign.key" \
		-subj "/C=NL/O=$org/CN=$slug.keten.test/serialNumber=$oin" -out "$d/sign.csr"
	if [ $# -eq 0 ]; then set -- -startdate "$since"; fi
	ossl ca -config "$cnf" -batch -notext -extensions party -in "$d/sign.csr" \
		-out "$d/sign.crt" "$@"
	rm -f "$d/sign.csr"
}

x25519() {
	ossl genpkey -algorithm x25519 -out "$1.key"
	ossl pkey -in "$1.key" -pubout -out "$1.pub"
}

# The parties.
: >"$out/parties.txt"
json="$out/directory.json"
{
	echo '{'
	echo '  "network": "lvv-dev",'
	echo '  "serial": 1,'
	echo '  "valid_days": 365,'
	echo '  "parties": ['
} >"$json"
first=1
grep -v '^[[:space:]]*\(#\|$\)' "$parties" | while read -r slug oin port roles via name; do
	case "$oin" in [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]) ;;
	*) echo "mkdevnet.sh: $parties: $slug: OIN $oin is not 20 digits" >&2; exit 1 ;; esac
	port=$((port - 7400 + base))
	d="$out/parties/$slug"
	mkdir -p "$d"
	echo "$oin" >"$d/oin"
	issue "$d" "$slug" "$oin" "$name"
	x25519 "$d/seal"
	x25519 "$d/curve"
	chmod 0644 "$d/sign.crt" "$d/seal.pub" "$d/curve.pub" "$d/oin"
	echo "$slug $oin $port $roles $via $name" >>"$out/parties.txt"
	case "$roles" in *authority*) echo "$oin" >"$out/authority.oin" ;; esac
	viaoin=""
	if [ "$via" != "-" ]; then
		viaoin=$(awk -v s="$via" '$1 == s { print $2 }' "$parties")
		[ -n "$viaoin" ] || { echo "mkdevnet.sh: $slug: via $via is not a party" >&2; exit 1; }
	fi
	rl=$(echo "$roles" | sed 's/,/", "/g')
	[ $first -eq 1 ] || echo '    ,' >>"$json"
	first=0
	cat >>"$json" <<EOF
    {
      "oin": "$oin",
      "name": "$name",
      "roles": ["$rl"],
      "endpoint": "tcp://127.0.0.1:$port",
      "signing_cert": "parties/$slug/sign.crt",
      "seal_key": "parties/$slug/seal.pub",
      "curve_key": "parties/$slug/curve.pub"$( [ -n "$viaoin" ] && printf ',\n      "via": "%s"' "$viaoin")
    }
EOF
done
printf '  ]\n}\n' >>"$json"
[ -s "$out/authority.oin" ] || { echo "mkdevnet.sh: no party with role authority" >&2; exit 1; }

# Certificates a node must refuse.
if [ $test_certs -eq 1 ]; then
	t="$out/test"
	mkdir -p "$t"
	issue "$t" expired 00000001999000900000 "Verlopen" -startdate 20200101000000Z -enddate 20210101000000Z
	mv "$t/sign.crt" "$t/expired.crt"; mv "$t/sign.key" "$t/expired.key"
	issue "$t" notyet 00000001999000910000 "Nog niet geldig" -startdate 20990101000000Z -enddate 20991231000000Z
	mv "$t/sign.crt" "$t/notyet.crt"; mv "$t/sign.key" "$t/notyet.key"
	issue "$t" revoked 00000001999000920000 "Ingetrokken"
	mv "$t/sign.crt" "$t/revoked.crt"; mv "$t/sign.key" "$t/revoked.key"
	ossl ca -config "$cnf" -revoke "$t/revoked.crt" -crl_reason keyCompromise
	ossl genpkey -algorithm ed25519 -out "$t/wrongusage.key"
	ossl req -config "$cnf" -new -key "$t/wrongusage.key" \
		-subj "/C=NL/O=Verkeerd gebruik/CN=wrongusage.keten.test/serialNumber=00000001999000930000" \
		-out "$t/wrongusage.csr"
	ossl ca -config "$cnf" -batch -notext -extensions wrongusage -in "$t/wrongusage.csr" \
		-startdate "$since" -out "$t/wrongusage.crt"
	rm -f "$t/wrongusage.csr"
	# Another CA, and a certificate from it for the authority's OIN.
	ossl genpkey -algorithm ed25519 -out "$t/otherca.key"
	ossl req -config "$cnf" -new -x509 -key "$t/otherca.key" -days 3650 \
		-subj "/C=NL/O=keten dev/CN=keten dev chain CA" -extensions v3_ca -out "$t/otherca.crt"
	ossl genpkey -algorithm ed25519 -out "$t/wrongca.key"
	ossl req -config "$cnf" -new -key "$t/wrongca.key" \
		-subj "/C=NL/O=Vals/CN=authority.keten.test/serialNumber=$(cat "$out/authority.oin")" \
		-out "$t/wrongca.csr"
	ossl x509 -req -in "$t/wrongca.csr" -CA "$t/otherca.crt" -CAkey "$t/otherca.key" \
		-set_serial 4242 -days 825 -extfile "$cnf" -extensions party -out "$t/wrongca.crt"
	rm -f "$t/wrongca.csr"
	chmod 0644 "$t"/*.crt
fi

ossl ca -config "$cnf" -gencrl -crl_lastupdate "$since" -out "$out/crl.pem"
chmod 0644 "$out/ca.crt" "$out/crl.pem" "$out/directory.json" "$out/authority.oin" "$out/parties.txt"
chmod 0755 "$out" "$out/parties"
for d in "$out/parties"/*; do chmod 0755 "$d"; done
rm -f "$out/ca/last.log"

# A node configuration per party (not the authority): its keys, the
# shared trust files, a state directory and one local system, "case" (the
# party's case system), allowed the kinds its role sends and receives.
kinds_for() {
	case "$1" in
	ind) echo "DOSSIER_DELIVERY CASE_EVENT|CASE_EVENT ESCALATION_DECISION" ;;
	dtv) echo "DOSSIER_DELIVERY CASE_EVENT|DOSSIER_DELIVERY DTV_NOTIFICATION CASE_EVENT" ;;
	avim) echo "CASE_EVENT|POLICE_NOTIFICATION CASE_EVENT" ;;
	coa) echo "CASE_EVENT|CASE_EVENT" ;;
	municipality) echo "DTV_NOTIFICATION ESCALATION_REQUEST CASE_EVENT POLICE_NOTIFICATION|DOSSIER_DELIVERY ESCALATION_DECISION CASE_EVENT" ;;
	escalation_table) echo "ESCALATION_DECISION CASE_EVENT|ESCALATION_REQUEST CASE_EVENT" ;;
	ngo) echo "CASE_EVENT|CASE_EVENT" ;;
	*) echo "|" ;;
	esac
}
mkdir -p "$out/nodes"
while read -r slug oin port roles via name; do
	case "$roles" in *authority*) continue ;; esac
	k=$(kinds_for "${roles%%,*}")
	mkdir -p "$out/state/$slug" "$out/run/$slug"
	cat >"$out/nodes/$slug.conf" <<EOF
# ketend configuration of $name (dev network)
[node]
oin = $oin
listen = tcp://127.0.0.1:$port
state_dir = $out/state/$slug
log_level = info$( [ -n "$user" ] && printf '\nuser = %s' "$user")

[keys]
sign_key = $out/parties/$slug/sign.key
seal_key = $out/parties/$slug/seal.key
curve_key = $out/parties/$slug/curve.key

[trust]
ca = $out/ca.crt
crl = $out/crl.pem
directory = $out/directory.signed
authority = $(cat "$out/authority.oin")
mandates = $out/mandates.bundle

[limits]
default_ttl = 14d
retry_initial = 200ms
retry_max = 5s
EOF
	if [ "${roles%%,*}" != relay ]; then
		cat >>"$out/nodes/$slug.conf" <<EOF

[local case]
socket = ipc://$out/run/$slug/case.sock
mode = 0600
send = ${k%%|*}
receive = ${k#*|}
purposes = *
EOF
	fi
done <"$out/parties.txt"
chmod 0700 "$out/state" "$out/run"
if [ -n "$user" ]; then
	if ! id "$user" >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /usr/sbin/nologin "$user" ||
			{ echo "mkdevnet.sh: cannot create the account $user" >&2; exit 1; }
	fi
	chown -R "$user" "$out/parties" "$out/state" "$out/run"
fi

# The signed directory, when the keten CLI is built.
keten="${KETEN_BIN:-$here/../build/bin}/keten"
if [ -x "$keten" ]; then
	"$keten" directory sign --source "$out/directory.json" \
		--key "$out/parties/authority/sign.key" --cert "$out/parties/authority/sign.crt" \
		--ca "$out/ca.crt" --crl "$out/crl.pem" --out "$out/directory.signed"
else
	echo "mkdevnet.sh: $keten not built; sign the directory later with" \
		"keten directory sign --source $out/directory.json ..."
fi

# The mandates of the dev network, issued by the authority for a year:
# what each role sends in the LVV chain, and the relay's right to relay.
if [ -x "$keten" ]; then
	rm -f "$out/mandates.bundle"
	auth=$(cat "$out/authority.oin")
	from=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
	until=$(date -u -d '+365 days' +%Y-%m-%dT%H:%M:%SZ)
	lso=municipality,ind,dtv,avim,coa,ngo,escalation_table
	mandate() {	# ID GRANTEE KINDS ROLES PURPOSES [extra options]
		local id=$1 grantee=$2 kinds=$3 roles=$4 purposes=$5
		shift 5
		"$keten" mandate issue --key "$out/parties/authority/sign.key" --issuer "$auth" \
			--id "$id" --grantee "$grantee" --kind "$kinds" --roles "$roles" \
			--purpose "$purposes" --basis "Besluit LVV-ketenmandaten (dev), art. 2" \
			--basis-uri "https://example.org/lvv/mandaten" --from "$from" --until "$until" \
			--bundle "$out/mandates.bundle" "$@" >/dev/null
	}
	while read -r slug oin port roles via name; do
		case "${roles%%,*}" in
		authority) continue ;;
		relay) mandate "dev-$slug-relay" "$oin" DOSSIER_DELIVERY,DTV_NOTIFICATION,ESCALATION_REQUEST,ESCALATION_DECISION,CASE_EVENT,POLICE_NOTIFICATION \
			"$lso" lvv-intake,lvv-lso,lvv-escalation,lvv-police --relay; continue ;;
		ind|dtv) mandate "dev-$slug-dossier" "$oin" DOSSIER_DELIVERY municipality,dtv lvv-intake ;;
		municipality)
			mandate "dev-$slug-dtv" "$oin" DTV_NOTIFICATION dtv lvv-intake
			mandate "dev-$slug-escalation" "$oin" ESCALATION_REQUEST escalation_table lvv-escalation
			mandate "dev-$slug-police" "$oin" POLICE_NOTIFICATION avim lvv-police ;;
		escalation_table) mandate "dev-$slug-decision" "$oin" ESCALATION_DECISION municipality lvv-escalation ;;
		esac
		mandate "dev-$slug-lso" "$oin" CASE_EVENT "$lso" lvv-lso
	done <"$out/parties.txt"
fi
echo "mkdevnet.sh: dev PKI for $(wc -l <"$out/parties.txt") parties in $out"

#!/usr/bin/env bash
# test_install.sh — make install into a scratch DESTDIR, then a local
# system's program built against the installed header and libraries only
# (as README.md says), run against nothing: it must link, and the library
# must say that no node answers.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/integration/lib.sh"

make -C "$top" --no-print-directory install DESTDIR="$T/root" PREFIX=/usr/local >"$T/install.out" 2>&1 &&
	ok "make install" || { bad "make install"; tail -5 "$T/install.out"; }
for f in bin/keten sbin/ketend include/keten/keten.h include/keten/local.pb-c.h lib/libketenclient.a \
	lib/libketen.a share/man/man1/keten.1 share/man/man5/ketend.conf.5 share/man/man8/ketend.8; do
	[ -f "$T/root/usr/local/$f" ] || bad "not installed: $f"
done
cat >"$T/app.c" <<'C'
#include <stdio.h>
#include <keten.h>

int
main(int argc, char **argv)
{
	static const char *to[] = { "00000001999000050000" };
	struct keten_submit s = { .kind = 1, .recipients = to, .nrecipients = 1,
	    .case_ref = "C-1", .purpose = "lvv-intake", .payload = (const unsigned char *)"", .len = 0 };
	struct keten_client *c = NULL;
	unsigned char id[16];
	int r;

	if (argc != 2 || keten_client_open(argv[1], 300, &c) != 0)
		return 2;
	r = keten_submit(c, &s, id);
	printf("%d %s\n", r, keten_client_error(c));
	keten_client_close(&c);
	return 0;
}
C
libs=$(pkg-config --libs libzmq libsodium libprotobuf-c openssl sqlite3 jansson inih liblz4)
# shellcheck disable=SC2086
cc -std=c11 -I"$T/root/usr/local/include/keten" $(pkg-config --cflags libprotobuf-c) "$T/app.c" \
	-L"$T/root/usr/local/lib" -lketenclient -lketen $libs -o "$T/app" >"$T/cc.out" 2>&1 &&
	ok "a local system's program builds against the installed header and libraries" ||
	{ bad "cannot build against the installed library"; head -20 "$T/cc.out"; }
out=$("$T/app" "ipc://$T/nobody.sock" 2>&1)
case $out in
"-100 not sent"*) ok "... and runs: no node, not sent" ;;
*) bad "the program said: $out" ;;
esac
finish

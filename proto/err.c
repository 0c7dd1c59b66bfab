/*
 * err.c — code → message table for err.h.  One table so that a code, its
 * name and its sentence can never drift apart.
 */
#include <stddef.h>

#include "err.h"

static const struct {
	int code;
	const char *name;
	const char *msg;
} errtab[] = {
	{ KETEN_OK, "KETEN_OK", "success" },
	{ KETEN_ENOMEM, "KETEN_ENOMEM", "out of memory" },
	{ KETEN_EINVAL, "KETEN_EINVAL", "invalid argument" },
	{ KETEN_EIO, "KETEN_EIO", "input/output error" },
	{ KETEN_EPARSE, "KETEN_EPARSE", "malformed data" },
	{ KETEN_ETOOBIG, "KETEN_ETOOBIG", "size limit exceeded" },
	{ KETEN_ENOTFOUND, "KETEN_ENOTFOUND", "not found" },
	{ KETEN_EEXIST, "KETEN_EEXIST", "already exists" },
	{ KETEN_ECONFIG, "KETEN_ECONFIG", "invalid configuration" },
	{ KETEN_ECRYPTO, "KETEN_ECRYPTO", "cryptographic library failure" },
	{ KETEN_EVERSION, "KETEN_EVERSION", "unsupported format version" },
	{ KETEN_EFIELD, "KETEN_EFIELD", "required field missing or invalid" },
	{ KETEN_EBADSIG, "KETEN_EBADSIG", "signature does not verify" },
	{ KETEN_EBATCHPROOF, "KETEN_EBATCHPROOF", "batch inclusion path malformed" },
	{ KETEN_ESENDERKEY, "KETEN_ESENDERKEY", "sender key unknown or does not match the directory" },
	{ KETEN_ENOTRECIPIENT, "KETEN_ENOTRECIPIENT", "this party is not a recipient" },
	{ KETEN_EEXPIRED, "KETEN_EEXPIRED", "message expired" },
	{ KETEN_EFUTURE, "KETEN_EFUTURE", "message created in the future beyond the allowed clock skew" },
	{ KETEN_EDECRYPT, "KETEN_EDECRYPT", "decryption failed: key stanza or ciphertext not authentic" },
	{ KETEN_ETRUNCATED, "KETEN_ETRUNCATED", "ciphertext truncated or extended" },
	{ KETEN_ERECIPIENTS, "KETEN_ERECIPIENTS", "recipient list empty, duplicated or too long" },
	{ KETEN_ECONTEXT, "KETEN_ECONTEXT", "signature made for another context" },
	{ KETEN_EKEYFILE, "KETEN_EKEYFILE", "key file unreadable or malformed" },
	{ KETEN_EKEYPERM, "KETEN_EKEYPERM", "private key file is accessible by group or others" },
	{ KETEN_ECERT, "KETEN_ECERT", "certificate malformed" },
	{ KETEN_ECERTCHAIN, "KETEN_ECERTCHAIN", "certificate not issued by the chain CA" },
	{ KETEN_ECERTEXPIRED, "KETEN_ECERTEXPIRED", "certificate expired or not yet valid" },
	{ KETEN_ECERTREVOKED, "KETEN_ECERTREVOKED", "certificate revoked" },
	{ KETEN_ECERTUSAGE, "KETEN_ECERTUSAGE", "certificate key type or key usage not allowed" },
	{ KETEN_ECERTOIN, "KETEN_ECERTOIN", "certificate subject serialNumber is not the party's OIN" },
	{ KETEN_ECRL, "KETEN_ECRL", "CRL missing, malformed, not signed by the CA or out of date" },
	{ KETEN_EDIRSIG, "KETEN_EDIRSIG", "directory signature or signer not valid" },
	{ KETEN_EDIREXPIRED, "KETEN_EDIREXPIRED", "directory expired or not yet valid" },
	{ KETEN_EDIRDUP, "KETEN_EDIRDUP", "duplicate OIN in directory" },
	{ KETEN_EDIRROLE, "KETEN_EDIRROLE", "unknown role in directory" },
	{ KETEN_EDIRPARTY, "KETEN_EDIRPARTY", "invalid party entry in directory" },
	{ KETEN_EDIRVIA, "KETEN_EDIRVIA", "via names an unknown party or one that is not a relay" },
	{ KETEN_EDIRSTALE, "KETEN_EDIRSTALE", "directory serial is not newer than the one in use" },
	{ KETEN_EDB, "KETEN_EDB", "the node's database failed" },
	{ KETEN_EFULL, "KETEN_EFULL", "disk full: nothing was written" },
	{ KETEN_ECORRUPT, "KETEN_ECORRUPT", "the node's database is corrupt" },
	{ KETEN_ESTATE, "KETEN_ESTATE", "not allowed in the current state" },
	{ KETEN_ELOCKED, "KETEN_ELOCKED", "the store is in use by another ketend" },
	{ KETEN_ENOTPERMITTED, "KETEN_ENOTPERMITTED", "the local system is not permitted to do this" },
	{ KETEN_ECURSOR, "KETEN_ECURSOR", "cursor unknown or reopened with other filters" },
	{ KETEN_EMANDATE, "KETEN_EMANDATE", "mandate or revocation field invalid" },
	{ KETEN_EMANDATESIG, "KETEN_EMANDATESIG", "mandate or revocation signature does not verify" },
	{ KETEN_EMANDATEISSUER, "KETEN_EMANDATEISSUER",
	    "the issuer may not issue this mandate or revocation" },
	{ KETEN_EMANDATEWIDER, "KETEN_EMANDATEWIDER", "delegation wider than its parent mandate" },
	{ KETEN_EMANDATEPARTY, "KETEN_EMANDATEPARTY", "mandate names a party not in the directory" },
	{ KETEN_ENOMANDATE, "KETEN_ENOMANDATE", "refused: no mandate covers this message" },
	{ KETEN_ETAMPER, "KETEN_ETAMPER", "the audit log was altered" },
	{ KETEN_ETORN, "KETEN_ETORN", "the audit log ends in a torn write" },
	{ KETEN_EPOLICY, "KETEN_EPOLICY", "the audit log breaks a policy" },
	{ KETEN_EAUDITKEY, "KETEN_EAUDITKEY", "audit key missing, malformed or destroyed" },
	{ KETEN_EAGAIN, "KETEN_EAGAIN", "not possible now; try again later" },
	{ KETEN_ETRANSPORT, "KETEN_ETRANSPORT", "transport identity does not match the signed sender" },
	{ KETEN_ESTOPPING, "KETEN_ESTOPPING", "the node is shutting down" },
};

static int
errtab_find(int code)
{
	for (size_t i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
		if (errtab[i].code == code)
			return (int)i;
	return -1;
}

const char *
keten_strerror(int code)
{
	int i = errtab_find(code);

	return i < 0 ? "unknown error" : errtab[i].msg;
}

const char *
keten_errname(int code)
{
	int i = errtab_find(code);

	return i < 0 ? "KETEN_E?" : errtab[i].name;
}

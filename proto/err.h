/*
 * err.h — the one error convention of keten.
 *
 * Every function that can fail on outside input (network bytes, files,
 * configuration, users) returns 0 on success or one of the negative
 * KETEN_E* codes below.  keten_strerror() turns a code into a sentence for
 * logs and users; keten_errname() into its stable symbolic name for JSON
 * output and tests.  The numeric values are part of the local API and never
 * change meaning; new codes are only appended.
 */
#ifndef KETEN_ERR_H
#define KETEN_ERR_H

enum keten_err {
	KETEN_OK = 0,
	/* generic */
	KETEN_ENOMEM = -1,		/* out of memory */
	KETEN_EINVAL = -2,		/* bad argument from the caller */
	KETEN_EIO = -3,			/* read/write/fsync failed (errno logged) */
	KETEN_EPARSE = -4,		/* malformed bytes */
	KETEN_ETOOBIG = -5,		/* a size limit was exceeded */
	KETEN_ENOTFOUND = -6,		/* no such object */
	KETEN_EEXIST = -7,		/* already exists */
	KETEN_ECONFIG = -8,		/* invalid configuration */
	KETEN_ECRYPTO = -9,		/* a crypto library call failed */
	/* envelope */
	KETEN_EVERSION = -20,		/* unsupported format version */
	KETEN_EFIELD = -21,		/* a required field is missing or invalid */
	KETEN_EBADSIG = -22,		/* signature does not verify */
	KETEN_EBATCHPROOF = -23,	/* batch inclusion path is malformed */
	KETEN_ESENDERKEY = -24,		/* sender key unknown or not the directory's */
	KETEN_ENOTRECIPIENT = -25,	/* this node is not a recipient */
	KETEN_EEXPIRED = -26,		/* message expired */
	KETEN_EFUTURE = -27,		/* created_at beyond the allowed clock skew */
	KETEN_EDECRYPT = -28,		/* key stanza or ciphertext failed to authenticate */
	KETEN_ETRUNCATED = -29,		/* ciphertext truncated or extended */
	KETEN_ERECIPIENTS = -30,	/* recipient list empty, duplicated or too long */
	KETEN_ECONTEXT = -31,		/* signature made for another context */
	/* keys and certificates */
	KETEN_EKEYFILE = -40,		/* key file unreadable or malformed */
	KETEN_EKEYPERM = -41,		/* private key readable by others */
	KETEN_ECERT = -42,		/* certificate malformed */
	KETEN_ECERTCHAIN = -43,		/* certificate not issued by the chain CA */
	KETEN_ECERTEXPIRED = -44,	/* certificate outside its validity period */
	KETEN_ECERTREVOKED = -45,	/* certificate revoked by the CRL */
	KETEN_ECERTUSAGE = -46,		/* wrong key type or key usage */
	KETEN_ECERTOIN = -47,		/* subject serialNumber is not the expected OIN */
	KETEN_ECRL = -48,		/* CRL missing, malformed, unsigned or stale */
	/* directory */
	KETEN_EDIRSIG = -60,		/* directory signature or signer invalid */
	KETEN_EDIREXPIRED = -61,	/* directory expired or not yet valid */
	KETEN_EDIRDUP = -62,		/* duplicate OIN in the directory */
	KETEN_EDIRROLE = -63,		/* unknown role */
	KETEN_EDIRPARTY = -64,		/* party entry invalid */
	KETEN_EDIRVIA = -65,		/* via names an unknown party or a non-relay */
	KETEN_EDIRSTALE = -66,		/* serial not newer than the one in use */
	/* durable store */
	KETEN_EDB = -80,		/* the node's database failed (logged) */
	KETEN_EFULL = -81,		/* disk full: nothing was written */
	KETEN_ECORRUPT = -82,		/* the node's database is corrupt */
	KETEN_ESTATE = -83,		/* not allowed in the object's current state */
	KETEN_ELOCKED = -84,		/* the store is in use by another ketend */
	/* local API */
	KETEN_ENOTPERMITTED = -90,	/* the local system may not do this */
	KETEN_ECURSOR = -91,		/* cursor unknown, or reopened with other filters */
	/* transport and node */
	KETEN_EAGAIN = -100,		/* not possible now (peer not connected); retry later */
	KETEN_ETRANSPORT = -101,	/* transport identity does not match the signed sender */
	KETEN_ESTOPPING = -102,		/* the node is shutting down */
	/* mandates */
	KETEN_EMANDATE = -110,		/* mandate or revocation field invalid */
	KETEN_EMANDATESIG = -111,	/* mandate or revocation signature does not verify */
	KETEN_EMANDATEISSUER = -112,	/* issuer may not issue this mandate or revocation */
	KETEN_EMANDATEWIDER = -113,	/* delegation wider than its parent */
	KETEN_EMANDATEPARTY = -114,	/* mandate names a party not in the directory */
	KETEN_ENOMANDATE = -115,	/* refused: no mandate covers this message (reason given) */
	/* audit log */
	KETEN_ETAMPER = -120,		/* the audit log was altered (the report says where) */
	KETEN_ETORN = -121,		/* the audit log ends in a torn write (a crash) */
	KETEN_EPOLICY = -122,		/* the audit log breaks a policy (raw identifier, ...) */
	KETEN_EAUDITKEY = -123,		/* audit key missing, malformed or destroyed */
};

/* Sentence for code; never NULL, static storage. */
const char *keten_strerror(int code);

/* Stable symbolic name ("KETEN_EBADSIG"); never NULL, static storage. */
const char *keten_errname(int code);

#endif

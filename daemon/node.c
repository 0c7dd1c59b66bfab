/*
 * node.c — node lifecycle, the poll loop and the post-commit actions (see
 * node.h).
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "audit.pb-c.h"
#include "auditkeys.h"
#include "auditlog.h"
#include "buf.h"
#include "config.h"
#include "directory.h"
#include "envelope.h"
#include "err.h"
#include "keys.h"
#include "local.h"
#include "log.h"
#include "mandate.h"
#include "node.h"
#include "node_io.h"
#include "peer.h"
#include "pki.h"
#include "store.h"
#include "util.h"
#include "zap.h"

_Static_assert(CONFIG_MIN_MESSAGE_SIZE >= PEER_BATCH_MAX,
    "every node takes a batch as large as another sends");

/* Messages read from one socket in one turn, at most: bounds the turn so
 * that no source starves the others. */
#define TURN_MAX 512
/* How often links that are down are looked at (ms). */
#define LINK_CHECK_MS 50

/* ------------------------------------------------------------------ */
/* trust: PKI and directory */

static const char *
zap_lookup(void *arg, const uint8_t key[32])
{
	struct node *n = arg;
	const struct party *p = directory_find_curve(n->dir, key);

	return p ? p->oin : NULL;
}

static int
trust_load(const struct config *cfg, struct pki **pki, struct directory **dir)
{
	int r;

	if ((r = pki_new(cfg->ca, cfg->crl, pki)) != 0) {
		log_error("%s, %s: cannot load the chain CA and CRL: %s", cfg->ca, cfg->crl,
		    keten_strerror(r));
		return r;
	}
	if ((r = directory_load_file(*pki, cfg->authority, cfg->directory, clock_now_ms(), dir)) != 0) {
		log_error("%s: directory refused: %s", cfg->directory, keten_strerror(r));
		pki_destroy(pki);
		return r;
	}
	return 0;
}

struct mandate_load {
	const char *file;
	struct store *store;		/* NULL: nothing kept (ketend -n) */
	struct mandates *reg;
	const struct directory *dir;
	size_t kept, kept_refused, kept_signer_gone;
};

/* An item of the bundle: kept in the store when accepted, logged when not. */
static void
mandate_item(void *arg, const char *what, int revocation, const uint8_t *p, size_t n, int err)
{
	struct mandate_load *ml = arg;
	uint8_t h[32];
	int r;

	/* A revocation of a mandate not in this bundle: signed by a party of
	 * the directory (ENOTFOUND comes after the signature check), so it
	 * is kept like an accepted one, and the kept items, read after the
	 * bundle, apply it to the mandate kept from an earlier bundle (or to
	 * one that comes in a later bundle). */
	if (err == KETEN_ENOTFOUND && revocation && ml->store != NULL) {
		log_info("%s: %s is of a mandate not in this bundle: kept for the mandate kept "
		    "from an earlier bundle, or one to come", ml->file, what);
	} else if (err != 0) {
		log_warn("%s: %s refused: %s (%s)", ml->file, what, keten_strerror(err),
		    keten_errname(err));
		return;
	}
	if (ml->store == NULL)
		return;
	crypto_hash_sha256(h, p, n);
	/* 2: a revocation of a mandate not held, kept but not yet checked
	 * against it */
	if ((r = store_mandate_add(ml->store, h, !revocation ? 0 : err == 0 ? 1 : 2, p, n,
	    clock_now_ms())) != 0)
		log_error("%s: %s: cannot keep it in the store: %s", ml->file, what,
		    keten_strerror(r));
}

/* An item kept from an earlier bundle: verified again (against the
 * directory in use now). */
static void
mandate_kept(void *arg, int revocation, const uint8_t *p, size_t n)
{
	struct mandate_load *ml = arg;
	int r = revocation ? mandates_revoke(ml->reg, ml->dir, p, n) :
	    mandates_add(ml->reg, ml->dir, p, n, NULL);

	/* A revocation accepted in full before stays, also when its signer
	 * has left the directory or changed its key since: a revocation is
	 * never undone. */
	if (revocation == 1 && (r == KETEN_EMANDATEPARTY || r == KETEN_EMANDATESIG ||
	    r == KETEN_EMANDATEISSUER) && (r = mandates_revoke_kept(ml->reg, p, n)) == 0)
		ml->kept_signer_gone++;

	/* EEXIST: an item of the bundle under the same id came first;
	 * ENOTFOUND: a revocation whose mandate has not come yet */
	if (r == 0)
		ml->kept++;
	else if (r != KETEN_EEXIST && !(revocation && r == KETEN_ENOTFOUND))
		ml->kept_refused++;
}

/* The mandates this node checks against: the configured bundle, and what
 * it accepted from earlier bundles (kept in its store), each verified
 * against dir.  Without a bundle the registry is empty and every message
 * is refused. */
static int
mandates_load_file(const struct config *cfg, const struct directory *dir, struct node *n,
    struct mandates **out)
{
	struct store *store = n != NULL ? n->store : NULL;
	struct mandate_load ml = { cfg->mandates, store, NULL, dir, 0, 0, 0 };
	struct buf *b = NULL;
	size_t added = 0, refused = 0;
	int r;

	/* Without the kept items a revocation no longer in the bundle would
	 * be lost: a store that cannot be read fails the load. */
	if (n != NULL && (r = node_txn(n)) != 0) {
		log_error("mandates: store: %s", keten_strerror(r));
		return r;
	}
	if ((r = mandates_new(out)) != 0)
		return r;
	ml.reg = *out;
	if (cfg->mandates[0] == '\0') {
		log_warn("no [trust] mandates: every message will be refused (NO_MANDATE)");
		return 0;
	}
	if ((r = buf_load_file(cfg->mandates, KETEN_MANDATE_BUNDLE_MAX, &b)) != 0 ||
	    (r = mandates_load_bundle(*out, dir, buf_ptr(b), buf_len(b), &added, &refused,
	    mandate_item, &ml)) != 0) {
		log_error("%s: mandates refused: %s", cfg->mandates, keten_strerror(r));
		buf_destroy(&b);
		mandates_destroy(out);
		return r;
	}
	buf_destroy(&b);
	if (store != NULL && (r = store_mandate_each(store, mandate_kept, &ml)) != 0) {
		log_error("mandates: cannot read the ones kept from earlier bundles: %s",
		    keten_strerror(r));
		mandates_destroy(out);
		return r;
	}
	log_info("mandates: %zu verified from %s, %zu item(s) refused; %zu more kept from earlier "
	    "bundles%s", added, cfg->mandates, refused, ml.kept,
	    ml.kept_refused ? " (some kept ones no longer verify)" : "");
	if (ml.kept_signer_gone != 0)
		log_info("mandates: %zu kept revocation(s) whose signer has left the directory or "
		    "changed its key still apply", ml.kept_signer_gone);
	return 0;
}

/* Our own entry must be in the directory with exactly our keys. */
static int
self_check(const struct config *cfg, const struct keys *k, const struct directory *dir)
{
	const struct party *me = directory_find(dir, cfg->oin);

	if (me == NULL) {
		log_error("directory: this node's OIN %s is not in it", cfg->oin);
		return KETEN_ECONFIG;
	}
	if (sodium_memcmp(me->sign_pk, k->sign_pk, 32) != 0 ||
	    sodium_memcmp(me->seal_pk, k->seal_pk, 32) != 0 ||
	    sodium_memcmp(me->curve_pk, k->curve_pk, 32) != 0) {
		log_error("directory: the keys listed for %s are not this node's keys", cfg->oin);
		return KETEN_ECONFIG;
	}
	return 0;
}

/* A directory replaces the one this node accepted before (kept in its
 * store, across restarts) only with a higher serial, or the same serial
 * and the same content: a validly signed older one would bring back
 * parties and keys the authority took out.  0, KETEN_EDIRSTALE (logged)
 * or a store error. */
static int
trust_check(struct store *st, const struct directory *dir, const char *when)
{
	uint8_t digest[32];
	uint64_t serial = 0;
	int r = store_trust_get(st, &serial, digest);

	if (r < 0) {
		log_error("%s: store: %s", when, keten_strerror(r));
		return r;
	}
	if (r == 1 && directory_serial(dir) < serial) {
		log_error("%s: directory serial %llu is older than serial %llu, which this node "
		    "accepted before; refused", when, (unsigned long long)directory_serial(dir),
		    (unsigned long long)serial);
		return KETEN_EDIRSTALE;
	}
	if (r == 1 && directory_serial(dir) == serial &&
	    memcmp(digest, directory_digest(dir), 32) != 0) {
		log_error("%s: directory serial %llu differs from the serial %llu this node "
		    "accepted before; refused", when, (unsigned long long)serial,
		    (unsigned long long)serial);
		return KETEN_EDIRSTALE;
	}
	return 0;
}

/* Each [local] group must be one of this account's: the socket cannot be
 * given to another (chown fails), and the start would stop at the bind. */
static int
local_groups_check(const struct config *cfg)
{
	gid_t gs[NGROUPS_MAX];
	int ng;

	if (geteuid() == 0)
		return 0;
	if ((ng = getgroups(NGROUPS_MAX, gs)) < 0) {
		log_error("getgroups: %s", strerror(errno));
		return KETEN_EIO;
	}
	for (size_t i = 0; i < cfg->nlocals; i++) {
		const struct config_local *l = &cfg->locals[i];
		int member = !l->has_group || l->gid == getegid();

		for (int g = 0; !member && g < ng; g++)
			member = gs[g] == l->gid;
		if (!member) {
			struct group *gr = getgrgid(l->gid);

			log_error("%s: [local %s] group %s: the node's account is not a member, so the "
			    "socket cannot be given to it", cfg->path, l->name,
			    gr != NULL ? gr->gr_name : "?");
			return KETEN_ECONFIG;
		}
	}
	return 0;
}

int
node_check(struct config *cfg)
{
	struct keys *k = NULL;
	struct pki *pki = NULL;
	struct directory *dir = NULL;
	struct mandates *reg = NULL;
	struct store *st = NULL;
	const char *bad = NULL;
	int r;

	if ((r = keys_load(cfg->sign_key, cfg->seal_key, cfg->curve_key, &k, &bad)) != 0) {
		log_error("keys: %s: %s", bad ? bad : "?", keten_strerror(r));
		goto out;
	}
	if ((r = trust_load(cfg, &pki, &dir)) != 0)
		goto out;
	if ((r = self_check(cfg, k, dir)) != 0 || (r = mandates_load_file(cfg, dir, NULL, &reg)) != 0 ||
	    (r = local_groups_check(cfg)) != 0)
		goto out;
	r = store_open(cfg->state_dir, cfg->store_sync_full, &st);
	if (r == KETEN_ELOCKED) {
		/* The running node has it; it checked the store when it opened it. */
		log_info("configuration, keys, PKI and directory (serial %llu, %zu parties) are good; "
		    "the store is in use by the running ketend", (unsigned long long)directory_serial(dir),
		    directory_count(dir));
		r = 0;
		goto out;
	}
	if (r != 0) {
		log_error("%s: store: %s: %s", cfg->state_dir, keten_strerror(r), store_errmsg(NULL));
		goto out;
	}
	/* the directory must not be older than the one this node accepted */
	if ((r = trust_check(st, dir, cfg->directory)) != 0)
		goto out;
	log_info("configuration, keys, PKI, directory (serial %llu, %zu parties) and store are good",
	    (unsigned long long)directory_serial(dir), directory_count(dir));
out:
	store_close(&st);
	mandates_destroy(&reg);
	directory_destroy(&dir);
	pki_destroy(&pki);
	keys_destroy(&k);
	return r;
}

/* Open a link to every party this node talks to directly, so that
 * connections are up before the first message needs them. */
static void
links_open(struct node *n)
{
	for (size_t i = 0; i < directory_count(n->dir); i++) {
		const struct party *p = directory_party(n->dir, i);

		if (strcmp(p->oin, n->oin) != 0 && node_next_hop(n, p) == p)
			(void)peers_open(n->peers, p);
	}
}

static int node_commit(struct node *n);

/* SIGHUP: load the directory again; keep the old one if the new one
 * does not verify. */
static void
node_reload(struct node *n)
{
	struct pki *pki = NULL;
	struct directory *dir = NULL;
	struct mandates *reg = NULL;
	int r;

	n->reload = 0;
	if (trust_load(n->cfg, &pki, &dir) != 0) {
		log_error("reload: keeping directory serial %llu",
		    (unsigned long long)directory_serial(n->dir));
		node_audit_config(n, KETEN__V1__DECISION__DECISION_DENY,
		    "reload: directory refused; keeping serial %llu",
		    (unsigned long long)directory_serial(n->dir));
		return;
	}
	if (self_check(n->cfg, n->keys, dir) != 0 || node_txn(n) != 0 ||
	    trust_check(n->store, dir, "reload") != 0) {
		log_error("reload: new directory refused; keeping serial %llu",
		    (unsigned long long)directory_serial(n->dir));
		node_audit_config(n, KETEN__V1__DECISION__DECISION_DENY,
		    "reload: directory serial %llu refused; keeping serial %llu",
		    (unsigned long long)directory_serial(dir),
		    (unsigned long long)directory_serial(n->dir));
		directory_destroy(&dir);
		pki_destroy(&pki);
		return;
	}
	/* The mandates are verified again against the new directory (a
	 * party or authority may have left it); a bundle that cannot be read
	 * keeps the old directory and mandates both. */
	if (mandates_load_file(n->cfg, dir, n, &reg) != 0 ||
	    store_trust_set(n->store, directory_serial(dir), directory_digest(dir)) != 0) {
		mandates_destroy(&reg);
		log_error("reload: keeping directory serial %llu and its mandates",
		    (unsigned long long)directory_serial(n->dir));
		node_audit_config(n, KETEN__V1__DECISION__DECISION_DENY,
		    "reload: mandates %s refused; keeping directory serial %llu and its mandates",
		    n->cfg->mandates, (unsigned long long)directory_serial(n->dir));
		directory_destroy(&dir);
		pki_destroy(&pki);
		return;
	}
	/* The change is recorded, with the serial now accepted, durably and
	 * in a turn of its own before the node works under it: no other
	 * turn's failure can take the record back while the change stays. */
	node_audit_config(n, KETEN__V1__DECISION__DECISION_ALLOW,
	    "reload: directory serial %llu (%zu parties); mandates %s",
	    (unsigned long long)directory_serial(dir), directory_count(dir),
	    n->cfg->mandates[0] ? n->cfg->mandates : "none");
	if ((r = node_commit(n)) != 0) {
		log_error("reload: the change cannot be recorded (%s); keeping directory serial "
		    "%llu and its mandates", keten_strerror(r),
		    (unsigned long long)directory_serial(n->dir));
		mandates_destroy(&reg);
		directory_destroy(&dir);
		pki_destroy(&pki);
		return;
	}
	mandates_destroy(&n->mandates);
	directory_destroy(&n->dir);
	pki_destroy(&n->pki);
	n->dir = dir;
	n->pki = pki;
	n->mandates = reg;
	peers_reset(n->peers);	/* endpoints or keys may have changed */
	links_open(n);
	log_info("reload: directory serial %llu, %zu parties",
	    (unsigned long long)directory_serial(dir), directory_count(dir));
	if (n->trust_lapsed) {
		n->trust_lapsed = 0;
		log_info("trust: a current directory again: messages are exchanged");
	}
}

/* ------------------------------------------------------------------ */
/* lifecycle */

static int
setopt_int(void *s, int opt, int v)
{
	return zmq_setsockopt(s, opt, &v, sizeof(v));
}

static int
router_open(struct node *n)
{
	const struct config *c = n->cfg;
	int64_t max = (int64_t)c->max_message_size;

	/* The ZAP handler is bound before any CURVE server socket exists:
	 * libzmq would admit every key otherwise (zap.h). */
	if (zap_new(n->zctx, zap_lookup, n, &n->zap) != 0)
		return KETEN_EIO;
	if ((n->router = zmq_socket(n->zctx, ZMQ_ROUTER)) == NULL ||
	    setopt_int(n->router, ZMQ_CURVE_SERVER, 1) != 0 ||
	    zmq_setsockopt(n->router, ZMQ_CURVE_SECRETKEY, n->keys->curve_sk, 32) != 0 ||
	    zmq_setsockopt(n->router, ZMQ_ZAP_DOMAIN, KETEN_ZAP_DOMAIN, strlen(KETEN_ZAP_DOMAIN)) != 0 ||
	    zmq_setsockopt(n->router, ZMQ_MAXMSGSIZE, &max, sizeof(max)) != 0 ||
	    setopt_int(n->router, ZMQ_ROUTER_MANDATORY, 1) != 0 ||
	    /* IPv6 addresses as well as IPv4 (off in libzmq by default) */
	    setopt_int(n->router, ZMQ_IPV6, 1) != 0 ||
	    setopt_int(n->router, ZMQ_LINGER, (int)c->linger_ms) != 0 ||
	    setopt_int(n->router, ZMQ_HEARTBEAT_IVL, (int)c->heartbeat_ms) != 0 ||
	    setopt_int(n->router, ZMQ_HEARTBEAT_TIMEOUT, 3 * (int)c->heartbeat_ms) != 0 ||
	    /* a bounded inbound queue: a peer sending its backlog is held
	     * back by TCP rather than buffered here (a message may be a
	     * batch of PEER_BATCH_MAX bytes: 8 MiB per connection) */
	    setopt_int(n->router, ZMQ_RCVHWM, 128) != 0 ||
	    zmq_bind(n->router, c->listen) != 0) {
		log_error("%s: cannot listen: %s", c->listen, zmq_strerror(errno));
		return KETEN_EIO;
	}
	log_info("listening on %s", c->listen);
	return 0;
}

static int
signals_open(struct node *n)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
	    (n->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		log_error("signalfd: %s", strerror(errno));
		return KETEN_EIO;
	}
	signal(SIGPIPE, SIG_IGN);
	/* a file size limit fails the write (EFBIG), which the node handles
	 * like a full disk, instead of killing it mid-turn */
	signal(SIGXFSZ, SIG_IGN);
	return 0;
}

int
node_new(struct config *cfg, struct node **out)
{
	struct node *n;
	struct peers_opts po;
	const char *bad = NULL;
	int r;

	*out = NULL;
	if (sodium_init() < 0)
		return KETEN_ECRYPTO;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return KETEN_ENOMEM;
	n->cfg = cfg;
	n->sigfd = -1;
	snprintf(n->oin, sizeof(n->oin), "%s", cfg->oin);
	if ((r = keys_load(cfg->sign_key, cfg->seal_key, cfg->curve_key, &n->keys, &bad)) != 0) {
		log_error("keys: %s: %s", bad ? bad : "?", keten_strerror(r));
		goto fail;
	}
	if ((r = trust_load(cfg, &n->pki, &n->dir)) != 0 ||
	    (r = self_check(cfg, n->keys, n->dir)) != 0)
		goto fail;
	if ((r = store_open(cfg->state_dir, cfg->store_sync_full, &n->store)) != 0) {
		log_error("%s: store: %s: %s", cfg->state_dir, keten_strerror(r), store_errmsg(NULL));
		goto fail;
	}
	if (cfg->max_store_size != 0 &&
	    (r = store_set_max_size(n->store, cfg->max_store_size)) != 0) {
		log_error("%s: store: cannot cap at %llu bytes: %s", cfg->state_dir,
		    (unsigned long long)cfg->max_store_size, keten_strerror(r));
		goto fail;
	}
	if ((r = trust_check(n->store, n->dir, cfg->directory)) != 0 ||
	    (r = store_trust_set(n->store, directory_serial(n->dir), directory_digest(n->dir))) != 0)
		goto fail;
	if ((r = mandates_load_file(cfg, n->dir, n, &n->mandates)) != 0)
		goto fail;
	if ((n->note = buf_new(4096)) == NULL) {
		r = KETEN_ENOMEM;
		goto fail;
	}
	if ((r = node_audit_open(n)) != 0)
		goto fail;
	if ((r = sealer_new((uint32_t)cfg->batch_max, 60000, &n->sealer)) != 0 ||
	    (r = opener_new(cfg->oin, n->keys->seal_sk, &n->opener)) != 0 ||
	    (r = sigcache_new(&n->sigcache)) != 0)
		goto fail;
	/* Signals are blocked before libzmq starts its threads, which
	 * inherit the mask: only the signalfd sees them. */
	if ((r = signals_open(n)) != 0)
		goto fail;
	if ((n->zctx = zmq_ctx_new()) == NULL) {
		r = KETEN_EIO;
		goto fail;
	}
	if ((r = router_open(n)) != 0)
		goto fail;
	po.heartbeat_ms = (int)cfg->heartbeat_ms;
	po.linger_ms = (int)cfg->linger_ms;
	/* messages, most of them batches: 16 MiB per link at most */
	po.sndhwm = 256;
	po.max_msg = (int64_t)cfg->max_message_size;
	if ((r = peers_new(n->zctx, n->keys->curve_pk, n->keys->curve_sk, &po, &n->peers)) != 0)
		goto fail;
	links_open(n);
	if ((r = local_groups_check(cfg)) != 0 || (r = local_new(n, &n->local)) != 0)
		goto fail;
	n->next_retry = clock_now_ms();
	log_info("node %s (%s) ready: directory serial %llu, %zu parties",
	    n->oin, directory_find(n->dir, n->oin)->name,
	    (unsigned long long)directory_serial(n->dir), directory_count(n->dir));
	*out = n;
	return 0;
fail:
	node_destroy(&n);
	return r;
}

void
node_destroy(struct node **np)
{
	struct node *n;

	if (np == NULL || (n = *np) == NULL)
		return;
	for (size_t i = 0; i < n->nstaged; i++)
		outbound_staged_clear(&n->staged[i]);
	free(n->staged);
	for (size_t i = 0; i < n->nreceived; i++)
		buf_destroy(&n->received[i].wire);
	free(n->received);
	for (size_t i = 0; i < n->nactions; i++)
		buf_destroy(&n->actions[i].body);
	free(n->actions);
	free(n->witnessed);
	buf_destroy(&n->note);
	local_destroy(&n->local);
	peers_destroy(&n->peers);
	if (n->router != NULL)
		zmq_close(n->router);
	zap_destroy(&n->zap);
	if (n->zctx != NULL)
		zmq_ctx_term(n->zctx);
	if (n->sigfd >= 0)
		close(n->sigfd);
	if (n->in_txn)
		store_rollback(n->store);
	node_audit_free(n);
	store_close(&n->store);
	sigcache_destroy(&n->sigcache);
	opener_destroy(&n->opener);
	sealer_destroy(&n->sealer);
	mandates_destroy(&n->mandates);
	directory_destroy(&n->dir);
	pki_destroy(&n->pki);
	keys_destroy(&n->keys);
	free(n);
	*np = NULL;
}

/* ------------------------------------------------------------------ */
/* the turn's transaction and actions */

int
node_txn(struct node *n)
{
	int r;

	if (n->in_txn)
		return 0;
	if ((r = store_begin(n->store)) != 0) {
		log_error("store: cannot begin a transaction: %s", keten_strerror(r));
		return r;
	}
	n->in_txn = 1;
	return 0;
}

static struct action *
action_new(struct node *n)
{
	struct action *a;

	if (n->nactions == n->actions_cap) {
		size_t cap = n->actions_cap ? 2 * n->actions_cap : 256;
		struct action *grown = realloc(n->actions, cap * sizeof(*grown));

		if (grown == NULL)
			return NULL;
		n->actions = grown;
		n->actions_cap = cap;
	}
	a = &n->actions[n->nactions++];
	memset(a, 0, sizeof(*a));
	return a;
}

int
node_act_peer(struct node *n, const char *oin, uint8_t type, struct buf *body)
{
	struct action *a = action_new(n);

	if (a == NULL) {
		buf_destroy(&body);
		return KETEN_ENOMEM;
	}
	a->kind = ACT_PEER_SEND;
	snprintf(a->oin, sizeof(a->oin), "%s", oin);
	a->type = type;
	a->body = body;
	return 0;
}

int
node_act_reply(struct node *n, int local_idx, const uint8_t *rid, size_t rid_len,
    uint64_t request_id, struct buf *body)
{
	struct action *a = action_new(n);

	if (a == NULL || rid_len > sizeof(a->rid)) {
		if (a != NULL)
			n->nactions--;
		buf_destroy(&body);
		return KETEN_ENOMEM;
	}
	a->kind = ACT_LOCAL_REPLY;
	a->local_idx = local_idx;
	memcpy(a->rid, rid, rid_len);
	a->rid_len = rid_len;
	a->request_id = request_id;
	a->body = body;
	return 0;
}

/* None of the turn's actions is carried out: each local system waiting
 * for an answer gets the error instead. */
static void
actions_refuse(struct node *n, int code, const char *why)
{
	for (size_t i = 0; i < n->nactions; i++) {
		struct action *a = &n->actions[i];

		if (a->kind == ACT_LOCAL_REPLY) {
			struct buf *b = local_error_body(a->request_id, code, why);

			if (b != NULL)
				local_reply(n->local, a->local_idx, a->rid, a->rid_len, b);
			buf_destroy(&b);
		}
		buf_destroy(&a->body);
	}
	n->nactions = 0;
}

void
node_abort_turn(struct node *n, int code)
{
	const char *why = code == KETEN_EFULL ?
	    "the node's store is full (disk or max_store_size); nothing was queued or changed" :
	    "the node could not store this durably; nothing was queued or changed";

	if (n->in_txn)
		store_rollback(n->store);
	n->in_txn = 0;
	if (n->audit != NULL)
		auditlog_rollback(n->audit);
	n->audit_trimmed = 0;	/* a removal of copies may have been rolled back */
	actions_refuse(n, code, why);
	outbound_forget_staged(n);
}

const struct party *
node_next_hop(struct node *n, const struct party *to)
{
	const struct party *relay, *me;

	/* this node is the relay that reaches `to` */
	if (strcmp(to->via, n->oin) == 0)
		return to;
	/* A node behind a relay sends everything through it (the relay
	 * forwards for a sender behind it, on to the recipient's own relay
	 * if it has one); receipts come back the way the message went. */
	me = directory_find(n->dir, n->oin);
	if (me != NULL && me->via[0] != '\0' && strcmp(to->oin, me->via) != 0 &&
	    (relay = directory_find(n->dir, me->via)) != NULL)
		return relay;
	if (to->via[0] != '\0') {
		relay = directory_find(n->dir, to->via);
		return relay ? relay : to;
	}
	return to;
}

/* Commit the turn and carry out its actions; on a failed commit, only
 * the failure replies go out (nothing was made durable), and the error is
 * returned. */
static int
node_commit(struct node *n)
{
	int r;

	/* The turn's audit records commit with the turn, in one store
	 * transaction and one fsync, before anything of it goes out: a crash
	 * leaves both or neither. */
	if ((r = node_audit_commit(n, clock_now_ms(), n->stopping)) != 0) {
		node_abort_turn(n, r);
		return r;
	}
	if (n->in_txn) {
		if ((r = store_commit(n->store)) != 0) {
			log_error("store: commit failed: %s; this turn's work is refused",
			    keten_strerror(r));
			node_abort_turn(n, r);
			return r;
		}
		n->in_txn = 0;
	}
	/* With store_sync = full the records are durable in the store now,
	 * and the log file can wait until the turn's replies and envelopes
	 * are out; with store_sync = normal the file is what makes them
	 * durable, so it comes first (node_audit_written). */
	if (!n->cfg->store_sync_full) {
		node_audit_written(n, clock_now_ms(), n->stopping);
		/* fail closed: what the log does not hold durably is not
		 * acknowledged (the node stops; audit_failed).  The store has
		 * committed the turn, so its work may still be done once the
		 * records are put back at the next start: the reply says the
		 * outcome is open, not that nothing happened. */
		if (n->audit_failed) {
			actions_refuse(n, KETEN_EIO, "the node's audit log cannot be written and the "
			    "node stops; not acknowledged, but the work may have been stored: ask "
			    "for its status once the node is back before sending it again");
			return KETEN_EIO;
		}
	}
	for (size_t i = 0; i < n->nactions; i++) {
		struct action *a = &n->actions[i];

		if (a->kind == ACT_PEER_SEND) {
			const struct party *p = directory_find(n->dir, a->oin);

			/* Failure is fine: the store says what is still due
			 * and the retry timer sends it again. */
			if (p != NULL && peers_send_buf(n->peers, p, a->type, &a->body) != 0)
				log_debug("peer %s: not connected; will retry", a->oin);
		} else if (a->kind == ACT_LOCAL_REPLY && a->body != NULL) {
			local_reply(n->local, a->local_idx, a->rid, a->rid_len, a->body);
		}
		buf_destroy(&a->body);
	}
	n->nactions = 0;
	/* the turn's envelopes and receipts leave now, one batch per next
	 * hop, before the log file's write and any fsync of it */
	peers_flush(n->peers);
	if (n->cfg->store_sync_full)
		node_audit_written(n, clock_now_ms(), n->stopping);
	return 0;
}

/* End the turn whole: a batch still filling is stored first, then all is
 * committed (node_commit). */
static int
turn_end(struct node *n)
{
	if (n->nstaged > 0)
		outbound_flush(n);
	return node_commit(n);
}

/* ------------------------------------------------------------------ */
/* the loop */

static void
signals_read(struct node *n)
{
	struct signalfd_siginfo si;

	while (read(n->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			n->reload = 1;
		else {
			if (!n->stopping)
				log_info("signal %u: draining and stopping", si.ssi_signo);
			n->stopping = 1;
		}
	}
}

/* The earlier of next and deadline d (0: none). */
static uint64_t
earlier(uint64_t next, uint64_t d)
{
	return d != 0 && d < next ? d : next;
}

static long
turn_timeout(struct node *n, uint64_t now)
{
	uint64_t next = n->next_retry;

	next = earlier(next, n->batch_deadline);
	next = earlier(next, node_audit_deadline(n));
	next = earlier(next, local_next_deadline(n->local));
	/* a link that is down is looked at again soon: its backlog goes out
	 * as soon as it connects */
	if (n->links_down && now + LINK_CHECK_MS < next)
		next = now + LINK_CHECK_MS;
	if (next <= now)
		return 0;
	return next - now > 1000 ? 1000 : (long)(next - now);
}

/* The directory in use past its expires_at: the node stops exchanging
 * messages (fail closed) and reads the file again every minute, as a
 * SIGHUP would, until a current one is there. */
static void
trust_watch(struct node *n, uint64_t now)
{
	char when[32];

	if (!n->trust_lapsed && now >= directory_expires_at(n->dir)) {
		n->trust_lapsed = 1;
		n->next_trust_retry = now;
		time_fmt(directory_expires_at(n->dir), when, sizeof(when));
		log_error("trust: directory serial %llu expired at %s: no messages are exchanged "
		    "until a current one is loaded", (unsigned long long)directory_serial(n->dir),
		    when);
		node_audit_config(n, KETEN__V1__DECISION__DECISION_DENY,
		    "trust: directory serial %llu expired at %s; messages stop",
		    (unsigned long long)directory_serial(n->dir), when);
		/* in a turn of its own, as a reload's record (node_reload) */
		(void)turn_end(n);
	}
	if (n->trust_lapsed && now >= n->next_trust_retry && n->nstaged == 0) {
		n->next_trust_retry = now + 60 * 1000;
		node_commit(n);
		node_reload(n);
	}
}

int
node_run(struct node *n)
{
	zmq_pollitem_t items[3 + KETEN_LOCAL_MAX];
	size_t nlocal;

	/* a turn's log lines go out together at its end */
	log_batch(1);
	while (!n->stopping) {
		uint64_t now = clock_now_ms();
		size_t ni = 0;

		items[ni++] = (zmq_pollitem_t){ zap_socket(n->zap), 0, ZMQ_POLLIN, 0 };
		items[ni++] = (zmq_pollitem_t){ n->router, 0, ZMQ_POLLIN, 0 };
		items[ni++] = (zmq_pollitem_t){ NULL, n->sigfd, ZMQ_POLLIN, 0 };
		nlocal = local_pollitems(n->local, items + ni);
		ni += nlocal;
		/* and what went to peers outside a commit (the retries) */
		peers_flush(n->peers);
		if (zmq_poll(items, (int)ni, turn_timeout(n, now)) < 0 && errno != EINTR) {
			log_error("poll: %s", zmq_strerror(errno));
			return KETEN_EIO;
		}
		if (items[2].revents)
			signals_read(n);
		if (n->reload) {
			/* a batch still filling (batch_delay) was checked
			 * against the directory it was submitted under: it is
			 * stored and committed before that directory goes */
			turn_end(n);
			node_reload(n);
		}
		trust_watch(n, clock_now_ms());
		zap_handle(n->zap);
		inbound_drain(n, TURN_MAX);
		local_drain(n, TURN_MAX);
		now = clock_now_ms();
		n->links_down = outbound_links(n, now);
		if (n->nstaged > 0 && (n->nstaged >= (size_t)n->cfg->batch_max ||
		    now >= n->batch_deadline || n->stopping))
			outbound_flush(n);
		/* Hold the transaction open while a batch is still filling:
		 * its submissions are not answered until it commits. */
		if (n->nstaged == 0)
			node_commit(n);
		if (now >= n->next_retry) {
			outbound_retry(n, now);
			/* not while a batch fills: its SUBMIT records and
			 * sequence numbers commit with its messages */
			if (n->nstaged == 0)
				node_commit(n);
		}
		local_answer_waiting(n, clock_now_ms());
		/* answers to waiting fetches go out now, their records first */
		if (n->nactions > 0 && n->nstaged == 0)
			node_commit(n);
		if (now >= n->next_retention && n->nstaged == 0 && !n->in_txn) {
			node_audit_retention(n, now);
			n->next_retention = now + 3600 * 1000;
		}
		log_flush();
	}
	log_batch(0);
	/* Drain: what was read is committed and answered; what is queued
	 * stays durably queued for the next start. */
	turn_end(n);
	node_audit_close(n);
	if (n->audit_failed) {
		log_error("stopped: the audit log failed; see above");
		return KETEN_EIO;
	}
	log_info("stopped");
	return 0;
}

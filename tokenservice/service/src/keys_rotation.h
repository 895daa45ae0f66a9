/* Automatic rotation of the signing keys of a key directory (the keys.rotation settings): a
 * next key published ahead of use, promoted to active after the pre-publication window, the
 * old key kept published until every token it signed has expired, then archived or deleted.
 * The state lives in the directory itself (rotation.json, under an exclusive lock on
 * rotation.lock) so that replicas sharing the directory take each step exactly once and agree
 * on the active key (active.pem, a symlink the step re-points).
 *
 * With keyBackend pkcs11 the keys are made and destroyed in the token (keys_rotation_token.c)
 * and the directory holds the state alone: rotation.json names each key by its CKA_LABEL, and
 * its active entry is the key that signs. */
#ifndef TS_SVC_KEYS_ROTATION_H
#define TS_SVC_KEYS_ROTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>
#include <tokensmith/jose.h>

#define TS_SVC_ROTATION_STATE_FILE "rotation.json"
#define TS_SVC_ROTATION_LOCK_FILE "rotation.lock"
#define TS_SVC_ROTATION_ARCHIVE_DIR "archive"
/* How often a running service takes a step and looks for one another replica took: the
 * longest a replica may go on signing with a key after another replica demoted it, and the
 * longest a new next key waits before every replica serves it. Both are added to the windows
 * below, so that neither delay can break a verifier. */
#define TS_SVC_ROTATION_CHECK_S 30
/* Retired keys remembered in the state file (for `keys list`); older entries are dropped. */
#define TS_SVC_ROTATION_RETIRED_KEPT 16u
#define TS_SVC_ROTATION_MAX_KEYS 64u

typedef enum ts_svc_key_state {
    TS_SVC_KEY_NEXT,     /**< published, not signing yet */
    TS_SVC_KEY_ACTIVE,   /**< signs */
    TS_SVC_KEY_RETIRING, /**< published, no longer signs; tokens it signed may be unexpired */
    TS_SVC_KEY_RETIRED,  /**< removed from the directory (archived or deleted) */
} ts_svc_key_state;

const char *ts_svc_key_state_name(ts_svc_key_state s);

/** One key of the state file. Times are Unix seconds; 0 = not (yet). */
typedef struct ts_svc_rotation_key {
    char kid[TS_JOSE_THUMBPRINT_LEN + 1];
    char file[256];  /**< its file name in the directory (archive/<name> once archived); "" for
                          a token's key */
    char label[256]; /**< a token's key: its CKA_LABEL ("" for a key file) */
    char alg[8];
    ts_svc_key_state state;
    int64_t created;     /**< entered the state file (a next key: generated) */
    int64_t activated;   /**< became the signing key */
    int64_t deactivated; /**< stopped signing */
    int64_t retires_at;  /**< retiring: when it leaves the directory */
    int64_t retired;     /**< when it left */
} ts_svc_rotation_key;

typedef struct ts_svc_rotation_policy {
    int64_t interval_s;       /**< a key signs this long; 0 = only steps taken by hand */
    int64_t prepublish_s;     /**< a next key is published at least this long before it signs */
    int64_t token_lifetime_s; /**< the longest lifetime of a token signed, plus leeway */
    bool retire_delete;       /**< retired keys are deleted (else moved to archive/, 0700) */
    ts_jws_alg alg;           /**< new keys; TS_JWS_ALG_UNKNOWN = the active key's */
    bool allow_insecure;      /**< allowInsecureKeyPermissions */
} ts_svc_rotation_policy;

enum {
    /** `keys rotate`: take the next phase now (make a next key, or promote the next key once
     *  its pre-publication window has passed), whatever the interval says. */
    TS_SVC_ROTATE_BY_HAND = 1u,
    /** With BY_HAND: promote at once, making the next key when there is none, even before its
     *  window has passed (a compromised key: verifiers that cached the JWKS refuse new tokens
     *  until they fetch it again). */
    TS_SVC_ROTATE_FORCE = 2u,
};

/** What a step did. */
typedef struct ts_svc_rotation_report {
    bool changed; /**< the state or a key file changed */
    char generated[TS_JOSE_THUMBPRINT_LEN + 1];
    char promoted[TS_JOSE_THUMBPRINT_LEN + 1];
    char demoted[TS_JOSE_THUMBPRINT_LEN + 1];
    unsigned retired;
    char active_kid[TS_JOSE_THUMBPRINT_LEN + 1];
    int64_t next_action_at; /**< when the next automatic phase is due (0 = none) */
} ts_svc_rotation_report;

/**
 * Take one rotation step in @p dir at time @p now, under the directory's lock (waits for a
 * step another process or thread is taking). Adopts a directory rotation never saw: the key
 * that signs becomes active (active.pem made a symlink to it), any other key retiring.
 * @p flags: TS_SVC_ROTATE_* or 0 (the automatic step of a running service).
 */
TS_NODISCARD ts_status ts_svc_rotation_step(const char *dir, const ts_svc_rotation_policy *p,
                                            int64_t now, unsigned flags,
                                            ts_svc_rotation_report *out, ts_error *err);

/**
 * The keys of @p dir's state file (`keys list`), at most @p cap, into @p keys; nothing is
 * written. A directory without a state file gives its keys as they would be adopted.
 */
TS_NODISCARD ts_status ts_svc_rotation_list(const char *dir, bool allow_insecure,
                                            ts_svc_rotation_key *keys, size_t cap, size_t *n,
                                            ts_error *err);

/** The keys of a state file (keys_rotation_state.c). */
typedef struct ts_svc_rotation_state {
    ts_svc_rotation_key keys[TS_SVC_ROTATION_MAX_KEYS];
    size_t n;
} ts_svc_rotation_state;

/* keys_rotation_token.c: the same steps with the keys in a PKCS#11 token. ---------------- */

struct ts_svc_p11;

/**
 * The directory of the rotation state of keyBackend pkcs11: @p key_dir when set, else
 * <@p home>/keys (the files backend's default key directory), into @p buf.
 */
TS_NODISCARD ts_status ts_svc_rotation_dir(const char *key_dir, const char *home, char *buf,
                                           size_t cap, ts_error *err);

/**
 * ts_svc_rotation_step() for keys in @p token, the state in @p dir (created 0700 when absent,
 * one level): a next key is generated in the token (ts_svc_p11_generate()) with the label
 * `<pkcs11KeyLabel>.<unix-time>` (`.<n>` added when taken), the same algorithm as the active
 * key; promotion rewrites the state only; retirement with @p p->retire_delete destroys the
 * key's objects, else leaves them in the token, unpublished. Adopts a token rotation never
 * saw: pkcs11KeyLabel's key is active. Keys of the state the token no longer holds are
 * retired. When generation fails (a token that cannot make keys: TS_EUNSUPPORTED naming the
 * token and mechanism) the rest of the state is kept and the active key stays.
 */
TS_NODISCARD ts_status ts_svc_rotation_step_token(const char *dir, struct ts_svc_p11 *token,
                                                  const ts_svc_rotation_policy *p, int64_t now,
                                                  unsigned flags, ts_svc_rotation_report *out,
                                                  ts_error *err);

/** ts_svc_rotation_list() for keys in @p token: the state's keys, or as a first step would
 *  adopt them. Nothing is written. */
TS_NODISCARD ts_status ts_svc_rotation_list_token(const char *dir, struct ts_svc_p11 *token,
                                                  ts_svc_rotation_key *keys, size_t cap, size_t *n,
                                                  ts_error *err);

/* Shared by both backends (keys_rotation.c). ---------------------------------------------- */

/** How a backend makes, promotes and retires a key; @p ud is the backend's. */
typedef struct ts_svc__rotation_ops {
    void *ud;
    /** Make a next key and append its entry (state NEXT, created @p now) to @p st. */
    ts_status (*make)(void *ud, ts_svc_rotation_state *st, const ts_svc_rotation_policy *p,
                      const ts_svc_rotation_key *active, int64_t now, ts_svc_rotation_key **out,
                      ts_error *err);
    /** Make @p k the key that signs where the backend says so (the state aside). */
    ts_status (*promote)(void *ud, const ts_svc_rotation_key *k, ts_error *err);
    /** Take @p k out of publication: archive or delete. */
    ts_status (*retire)(void *ud, ts_svc_rotation_key *k, bool del, ts_error *err);
} ts_svc__rotation_ops;

/** Retire, make and promote as due (the state already agrees with the backend). */
TS_NODISCARD ts_status ts_svc__rotation_advance(const ts_svc__rotation_ops *ops,
                                                ts_svc_rotation_state *st,
                                                const ts_svc_rotation_policy *p, int64_t now,
                                                unsigned flags, ts_svc_rotation_report *r,
                                                ts_error *err);
/** Room for one more entry (the oldest retired entries give way); NULL when full. */
ts_svc_rotation_key *ts_svc__rotation_append(ts_svc_rotation_state *st, ts_error *err);
/** The entry of @p kid that is not retired, or NULL. */
ts_svc_rotation_key *ts_svc__rotation_find(ts_svc_rotation_state *st, const char *kid);
/** The first entry in state @p s, or NULL. */
ts_svc_rotation_key *ts_svc__rotation_find_state(ts_svc_rotation_state *st, ts_svc_key_state s);
/** @p k stops signing at @p now: retiring until its last token and the leeway have passed. */
void ts_svc__rotation_demote(ts_svc_rotation_key *k, const ts_svc_rotation_policy *p, int64_t now);
/** The algorithm of a new key: the policy's, else the active key's (PS256 for RSA). */
ts_jws_alg ts_svc__rotation_new_alg(const ts_svc_rotation_policy *p,
                                    const ts_svc_rotation_key *active);
/** Make @p dir (0700, one level) when it is missing, then lock its rotation.lock exclusively
 *  (waits): the descriptor, or -1 with @p err set. close() it to unlock. Every step, of key
 *  files or of keys in a token, starts here. */
int ts_svc__rotation_lock(const char *dir, ts_error *err);

/* keys_rotation_state.c: the state file and the directory. -------------------------------- */

/** Read @p dir/rotation.json; absent = empty. */
TS_NODISCARD ts_status ts_svc__rotation_load(const char *dir, ts_svc_rotation_state *st,
                                             ts_error *err);
/** Replace @p dir/rotation.json atomically (mode 0600). */
TS_NODISCARD ts_status ts_svc__rotation_save(const char *dir, const ts_svc_rotation_state *st,
                                             ts_error *err);

/** A key file of the directory: its name and kid. */
typedef struct ts_svc_rotation_file {
    char name[256];
    char kid[TS_JOSE_THUMBPRINT_LEN + 1];
    char alg[8];
} ts_svc_rotation_file;

/**
 * The keys of @p dir (every regular `*.pem` but active.pem) into @p files, and the kid of the
 * signing key (active.pem, else the newest file, as ts_svc_keyset_open() chooses) into
 * @p active_kid; @p active_is_link says whether active.pem is a symlink already. Files
 * @p known (may be NULL) names as <kid>.pem are taken at its word, not read.
 */
TS_NODISCARD ts_status ts_svc__rotation_scan(const char *dir, const ts_svc_rotation_state *known,
                                             ts_svc_rotation_file *files, size_t cap, size_t *n,
                                             char *active_kid, bool *active_is_link, ts_error *err);

#endif

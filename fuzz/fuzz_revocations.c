/* libFuzzer target: the revocation list payload (authn's revocation source). Invariants: no
   crash or leak; an accepted payload is within bounds (entries, printable jtis, a delta's
   since not after its seq); applied to a source (issuer "i", a fixed clock), it holds every
   listed unexpired jti and refuses it as revoked, and a second answer that is a delta from its
   cursor applies on top. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "revocations_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000LL

static int64_t fixed_clock(void *ud)
{
    (void)ud;
    return NOW;
}

static ts_jwks *keys(void)
{
    static ts_jwks *k;
    if (!k) { /* never used to verify here: the source only needs keys to exist */
        ts_jwk *key = ts_jwk_generate(TS_JWS_ES256, NULL);
        k = key ? ts_jwks_new(&key, 1, NULL) : NULL;
        ts_jwk_free(key);
        if (!k)
            abort();
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_authn__revlist l;
    if (ts_authn__revlist_parse((const char *)data, size, &l, NULL) != TS_OK)
        return 0;
    if (l.n > TS_AUTHN_REVOCATIONS_MAX_BATCH || (!l.full && l.since > l.seq) || !l.iss)
        abort();
    for (size_t i = 0; i < l.n; i++) {
        if (l.e[i].len == 0 || l.e[i].len > 255)
            abort();
        for (size_t k = 0; k < l.e[i].len; k++)
            if ((unsigned char)l.e[i].jti[k] < 0x21 || (unsigned char)l.e[i].jti[k] > 0x7e)
                abort();
    }
    ts_authn_revocations_options o = TS_AUTHN_REVOCATIONS_OPTIONS_INIT;
    o.issuer = "i";
    o.keys = keys();
    o.now = fixed_clock;
    o.fail_open = true; /* never applied through ts_authn_revocations_apply(): consult the table */
    ts_authn_revocations *rs = ts_authn_revocations_new(&o, NULL);
    if (!rs)
        abort();
    /* A delta needs a held list at its since: give it one. */
    ts_authn__revlist base = {.iss = "i", .seq = l.full ? 0 : l.since, .full = true};
    if (ts_authn__rev_apply_list(rs, &base, NULL) != TS_OK && strcmp(l.iss, "i") == 0)
        abort();
    ts_status st = ts_authn__rev_apply_list(rs, &l, NULL);
    if (strcmp(l.iss, "i") == 0 && st == TS_OK) {
        for (size_t i = 0; i < l.n; i++)
            if (l.e[i].exp > NOW &&
                ts_authn_revocations_check(rs, l.e[i].jti, l.e[i].len) != TS_AUTHN_REVOKED)
                abort();
        if (ts_authn_revocations_cursor(rs) != l.seq)
            abort();
    } else if (strcmp(l.iss, "i") != 0 && st == TS_OK) {
        abort(); /* another issuer's list */
    }
    ts_authn_revocations_free(rs);
    ts_authn__revlist_clear(&l);
    return 0;
}

/* A downstream program using the installed store library: create a bootstrap token in a fresh
 * database and redeem it once. */
#include <stdio.h>
#include <string.h>

#include <tokensmith/store.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    ts_error err;
    ts_error_clear(&err);
    ts_store_options opt = TS_STORE_OPTIONS_INIT;
    opt.path = argv[1];
    ts_store *s = ts_store_new(&opt, &err);
    if (!s) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    ts_store_bootstrap_params p = {.subject = "svc-a",
                                   .audience = "api",
                                   .scopes = "read",
                                   .ttl_s = 600,
                                   .refresh_ttl_s = 7200,
                                   .now = 1000};
    char token[TS_STORE_TOKEN_LEN + 1], hash[TS_STORE_HASH_LEN + 1], refresh[TS_STORE_HASH_LEN + 1];
    ts_store_bootstrap_record rec;
    ts_store_redeem_result r;
    if (ts_store_bootstrap_create(s, &p, token, &rec, &err) != TS_OK ||
        ts_store_token_hash(token, strlen(token), hash, &err) != TS_OK ||
        ts_store_token_hash("refresh", 7, refresh, &err) != TS_OK ||
        ts_store_bootstrap_redeem(s, hash, "127.0.0.1", 1001, refresh, &r, &err) != TS_OK) {
        fprintf(stderr, "store: %s\n", err.msg);
        ts_store_free(s);
        return 1;
    }
    ts_store_free(s);
    if (strcmp(hash, rec.token_hash) != 0 || r.outcome != TS_STORE_REDEEM_OK) {
        fprintf(stderr, "unexpected store result\n");
        return 1;
    }
    printf("store: bootstrap token redeemed once\n");
    return 0;
}

/* libFuzzer target: the policy bundle document parser of `tokensmith policy sync`
 * (tokenservice/cli/policy_bundle_doc.c), which takes a document from the network. Every
 * accepted document must hold only fragment names, no NUL, and nothing over the bounds, and
 * must dump to text that parses back to the same files (the round trip of `policy bundle`). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_bundle_doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small bound: the fuzzer's inputs are small, and the bound check itself is exercised. */
#define FUZZ_MAX_DOC 65536u

static void check(const ts_cli_bundle_doc *d)
{
    if (d->n_files > TS_CLI_BUNDLE_MAX_FILES ||
        (d->model && d->model_len > TS_CLI_BUNDLE_MAX_MODEL))
        __builtin_trap();
    for (size_t i = 0; i < d->n_files; i++) {
        const ts_cli_bundle_file *f = &d->files[i];
        if (!ts_cli_bundle_name_ok(f->name, strlen(f->name)) || strchr(f->name, '/') ||
            memchr(f->text, '\0', f->len) || f->len > TS_CLI_BUNDLE_MAX_TEXT)
            __builtin_trap();
        for (size_t k = 0; k < i; k++)
            if (strcmp(d->files[k].name, f->name) == 0)
                __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_cli_bundle_doc d, again;
    ts_error err;
    ts_error_clear(&err);
    if (ts_cli_bundle_doc_parse((const char *)data, size, FUZZ_MAX_DOC, &d, &err) != TS_OK)
        return 0;
    check(&d);
    char *text = NULL;
    size_t len = 0;
    if (ts_cli_bundle_doc_dump(&d, &text, &len, &err) == TS_OK) {
        /* The dump escapes more (ASCII only), so it may be longer than the input. */
        if (ts_cli_bundle_doc_parse(text, len, 0, &again, &err) != TS_OK)
            __builtin_trap();
        if (again.n_files != d.n_files || strcmp(again.policy_version, d.policy_version) != 0 ||
            (again.model == NULL) != (d.model == NULL))
            __builtin_trap();
        for (size_t i = 0; i < d.n_files; i++)
            if (again.files[i].len != d.files[i].len ||
                memcmp(again.files[i].text, d.files[i].text, d.files[i].len) != 0 ||
                strcmp(again.files[i].name, d.files[i].name) != 0)
                __builtin_trap();
        ts_cli_bundle_doc_cleanup(&again);
    }
    free(text);
    ts_cli_bundle_doc_cleanup(&d);
    return 0;
}

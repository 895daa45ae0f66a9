/*
 * tokensmith policy bundle: the fragments of a policy directory (or one fragment file) as one
 * bundle document, for `tokensmith policy sync` to fetch from any static HTTP server. A policy
 * that does not load, or a rule its model refuses, is never published; and what is written is
 * loaded back from a scratch directory, so the document's policy_version is the one a node
 * will compute from it.
 */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/authz.h>
#include <tokensmith/authz_http.h>

#include "common/file.h"
#include "policy_bundle_doc.h"
#include "policy_install.h"

/* Load and check the policy as `policy version` does; its version goes into @p doc. */
static int load_source(const char *model, const char *dir, const char *file, ts_cli_bundle_doc *doc)
{
    ts_authz_source_options o = TS_AUTHZ_SOURCE_OPTIONS_INIT;
    o.model_path = model;
    o.policy_dir = dir;
    o.policy_file = file;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_bundle *b = ts_authz_bundle_load(&o, &err);
    ts_authz_enforcer *e = b ? ts_authz_bundle_enforcer(b, &err) : NULL;
    if (e)
        memcpy(doc->policy_version, ts_authz_bundle_policy_version(b), sizeof doc->policy_version);
    ts_authz_enforcer_free(e);
    ts_authz_bundle_free(b);
    if (!e) {
        ts_cli_report("policy bundle", &err);
        return TS_CLI_FAIL;
    }
    return TS_CLI_OK;
}

static int write_out(const char *out, const char *text, size_t len)
{
    if (!out)
        return fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0 ? TS_CLI_FAIL : TS_CLI_OK;
    ts_error err;
    ts_error_clear(&err);
    if (ts_common__write_file_atomic_owned(out, text, len, 0644, (uid_t)-1, (gid_t)-1, &err) !=
        TS_OK) {
        ts_cli_report("policy bundle", &err);
        return TS_CLI_FAIL;
    }
    return TS_CLI_OK;
}

static int run_policy_bundle(const ts_cli_args *a)
{
    const char *dir = ts_cli_get(a, F_POLICY_DIR), *file = ts_cli_get(a, F_POLICY);
    const char *model = ts_cli_get(a, F_MODEL), *out = ts_cli_get(a, F_BUNDLE_OUT);
    dir = dir && *dir ? dir : NULL;
    file = file && *file ? file : NULL;
    model = model && *model ? model : NULL;
    out = out && *out ? out : NULL;
    if (dir && file)
        return ts_cli_usage_error(a->cmd, "--policy-dir and --policy are exclusive");
    /* The variables `policy version` and the services fall back to, in their order. */
    for (const char *const *v =
             (const char *const[]){"TOKENSMITH_POLICY_DIR", "AUTHZ_POLICY_DIR", NULL};
         !dir && !file && *v; v++)
        if ((dir = getenv(*v)) && !*dir)
            dir = NULL;
    if (!dir && !file)
        return ts_cli_usage_error(
            a->cmd, "give --policy-dir DIR or --policy FILE (or set TOKENSMITH_POLICY_DIR)");
    ts_cli_bundle_doc doc;
    ts_cli_bundle_doc_init(&doc);
    int rc = load_source(model, dir, file, &doc);
    ts_error err;
    ts_error_clear(&err);
    ts_status s = TS_OK;
    if (rc == TS_CLI_OK) {
        s = dir ? ts_cli_bundle_doc_read_dir(&doc, dir, &err)
                : ts_cli_bundle_doc_read_file(&doc, file, &err);
        if (s == TS_OK && model)
            s = ts_cli_bundle_doc_read_model(&doc, model, &err);
        /* The files were read a second time, after the loader: a change in between, or a
         * file the loader reads that this walk does not, shows as a version mismatch here. */
        const char *tmp = getenv("TMPDIR");
        if (s == TS_OK)
            s = ts_cli_install_check(tmp && *tmp ? tmp : "/tmp", &doc, &err);
    }
    char *text = NULL;
    size_t len = 0;
    if (rc == TS_CLI_OK && s == TS_OK)
        s = ts_cli_bundle_doc_dump(&doc, &text, &len, &err);
    if (rc == TS_CLI_OK && s != TS_OK) {
        ts_cli_report("policy bundle", &err);
        rc = TS_CLI_FAIL;
    }
    if (rc == TS_CLI_OK)
        rc = write_out(out, text, len);
    free(text);
    ts_cli_bundle_doc_cleanup(&doc);
    return rc;
}

static const ts_cli_use bundle_uses[] = {
    {F_POLICY_DIR, 0}, {F_POLICY, 0}, {F_MODEL, 0}, {F_BUNDLE_OUT, 0}, {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_policy_bundle = {
    .name = "policy bundle",
    .summary = "write a policy directory as one document for `policy sync`",
    .about = "Load the policy exactly as `policy version` does (the embedded baseline plus the\n"
             "fragments of --policy-dir, or the one file --policy; --model replaces the\n"
             "baseline model and travels in the document), check every rule against the\n"
             "model, and write the bundle document: the fragment files byte for byte and\n"
             "their policy_version, as JSON. Fragment names must match\n"
             "[A-Za-z0-9][A-Za-z0-9._-]*.csv. Publish the document on any HTTP server;\n"
             "`tokensmith policy sync` installs it on each node. Prints nothing else.",
    .after = "Exit status: 0 written; 1 a file or rule is invalid, or a file cannot be read or\n"
             "written; 2 usage error.",
    .uses = bundle_uses,
    .run = run_policy_bundle,
};

/*
 * `{{source_id.token_id}}` templates (token-agent's chaining syntax): parsed once, when the
 * configuration is read, and rendered by the runtime each time a request is made, with a lookup
 * callback that supplies the current token of each reference.
 *
 * Syntax: any text; each `{{` opens a reference that the next `}}` closes, holding a source id
 * and a token id joined by one dot, with optional spaces or tabs around them (`{{ a.b }}`). Ids
 * are 1 to 64 of A-Z a-z 0-9 _ -. There is no escape: a template cannot produce a literal `{{`.
 * A `}}` outside a reference is text.
 *
 * Ownership: ts_agent_template_parse() gives a template that the caller frees with
 * ts_agent_template_free(); references point into it. A render's output is the caller's and
 * holds tokens: free it with ts_agent_template_output_free(), which wipes it.
 * Thread-safety: a template is immutable once parsed; any number of threads may render one at
 * once (the lookup callback must be safe for that too).
 */
#ifndef TS_AGENT_TEMPLATE_H
#define TS_AGENT_TEMPLATE_H

#include <stddef.h>

#include <tokensmith/error.h>

typedef struct ts_agent_template ts_agent_template;

/** One `{{source_id.token_id}}` of a template. */
typedef struct ts_agent_template_ref {
    const char *source_id;
    const char *token_id;
    size_t offset; /**< byte offset of its `{{` in the template text */
    /** Index of the source in ts_agent_config.sources once the configuration is validated
     *  (SIZE_MAX for a template parsed on its own). */
    size_t source_index;
} ts_agent_template_ref;

/**
 * Parse @p len bytes of template text (need not be NUL-terminated).
 * @return TS_OK with *out set; TS_EPARSE ("unterminated '{{' at byte N", "'{{...}}' at byte N is
 * not {{source_id.token_id}}"); TS_ENOMEM. The message never repeats the text.
 */
TS_NODISCARD ts_status ts_agent_template_parse(const char *text, size_t len,
                                               ts_agent_template **out, ts_error *err);

/** NULL-safe. */
void ts_agent_template_free(ts_agent_template *t);

/** The template text as parsed (NUL-terminated), valid until the template is freed. */
const char *ts_agent_template_text(const ts_agent_template *t);

/** The number of references, and reference @p i (NULL past the end), valid until the template
 *  is freed. */
size_t ts_agent_template_ref_count(const ts_agent_template *t);
const ts_agent_template_ref *ts_agent_template_ref_at(const ts_agent_template *t, size_t i);

/**
 * Supplies the current value of @p ref: TS_OK with @p value (borrowed: it must stay valid until
 * the render returns) and @p len; any other status when there is none (the render then fails
 * with that status).
 */
typedef ts_status (*ts_agent_template_lookup_fn)(const ts_agent_template_ref *ref,
                                                 const char **value, size_t *len, void *ud);

/**
 * Render @p t, asking @p lookup for each reference in order.
 * @param out on TS_OK the text (heap, NUL-terminated; free with ts_agent_template_output_free()).
 * @return TS_OK; the lookup's status with "no value for {{source.token}}" (where: the
 * reference) when it has none; TS_ELIMIT beyond 1 MiB of output; TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_agent_template_render(const ts_agent_template *t,
                                                ts_agent_template_lookup_fn lookup, void *ud,
                                                char **out, size_t *out_len, ts_error *err);

/** Wipe @p len bytes of @p s and free it (a rendered template holds tokens). NULL-safe. */
void ts_agent_template_output_free(char *s, size_t len);

#endif

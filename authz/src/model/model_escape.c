/* Casbin's textual rewriting of assertion values (Go util.EscapeAssertion,
 * util.EscapeStringLiterals and the `in` bracket rewrite in model.AddDef). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "model/escape.h"

/* The delimiter class of Go's regex `([()\s|&,=!><+\-*\/]|^)((r|p)[0-9]*)\.`; RE2's \s is
 * [\t\n\f\r ] (no \v). */
static bool is_delim(unsigned char c)
{
    switch (c) {
    case '(':
    case ')':
    case '\t':
    case '\n':
    case '\f':
    case '\r':
    case ' ':
    case '|':
    case '&':
    case ',':
    case '=':
    case '!':
    case '>':
    case '<':
    case '+':
    case '-':
    case '*':
    case '/':
        return true;
    default:
        return false;
    }
}

/* @return the length of `(r|p)[0-9]*` at s[i] when it is followed by '.', else 0. */
static size_t prefix_before_dot(const char *s, size_t len, size_t i)
{
    size_t j;
    if (i >= len || (s[i] != 'r' && s[i] != 'p'))
        return 0;
    j = i + 1;
    while (j < len && s[j] >= '0' && s[j] <= '9')
        j++;
    return (j < len && s[j] == '.') ? j - i : 0;
}

char *ts_authz__model_escape_assertion(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t i = 0;
    if (!out)
        return NULL;
    if (len)
        memcpy(out, s, len);
    out[len] = '\0';
    /* Non-overlapping leftmost matches, as regexp.ReplaceAllStringFunc: a match always ends
     * with the '.', which is not a delimiter, so scanning on after it never skips a match.
     * The `^` alternative can only match at offset 0. */
    while (i < len) {
        size_t k;
        if (is_delim((unsigned char)s[i]) && (k = prefix_before_dot(s, len, i + 1)) > 0) {
            out[i + 1 + k] = '_';
            i += 1 + k + 1;
        } else if (i == 0 && (k = prefix_before_dot(s, len, 0)) > 0) {
            out[k] = '_';
            i = k + 1;
        } else {
            i++;
        }
    }
    return out;
}

char *ts_authz__model_escape_string_literals(const char *s, size_t len)
{
    size_t extra = 0, i, o = 0;
    char quote = 0;
    char *out;
    for (i = 0; i < len; i++) {
        if (quote) {
            if (s[i] == quote)
                quote = 0;
            else if (s[i] == '\\')
                extra++;
        } else if (s[i] == '"' || s[i] == '\'') {
            quote = s[i];
        }
    }
    out = malloc(len + extra + 1);
    if (!out)
        return NULL;
    quote = 0;
    for (i = 0; i < len; i++) {
        if (quote) {
            if (s[i] == quote)
                quote = 0;
            else if (s[i] == '\\')
                out[o++] = '\\';
        } else if (s[i] == '"' || s[i] == '\'') {
            quote = s[i];
        }
        out[o++] = s[i];
    }
    out[o] = '\0';
    return out;
}

static bool contains_in(const char *s, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == 'i' && s[i + 1] == 'n')
            return true;
    return false;
}

char *ts_authz__model_escape_matcher(const char *s, size_t len)
{
    char *a = ts_authz__model_escape_assertion(s, len);
    char *b;
    size_t n;
    if (!a)
        return NULL;
    b = ts_authz__model_escape_string_literals(a, strlen(a));
    free(a);
    if (!b)
        return NULL;
    n = strlen(b);
    /* Go checks the rewritten text; escaping only turns '.' into '_' and doubles '\\', so
     * it cannot create or destroy an "in". */
    if (contains_in(b, n)) {
        for (size_t i = 0; i < n; i++) {
            if (b[i] == '[')
                b[i] = '(';
            else if (b[i] == ']')
                b[i] = ')';
        }
    }
    return b;
}

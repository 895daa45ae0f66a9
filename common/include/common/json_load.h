/*
 * Telling why a jansson load (json_loadb, json_loads) failed. Private to tokensmith; header-only,
 * for the libraries that parse with jansson (they link it; ts_base does not).
 *
 * jansson reports most allocation failures of a load either with an empty error text (its
 * lexer's buffer could not be made) or as json_error_out_of_memory, while every syntax error
 * has a message. A caller that reported all of them as bad input would refuse a well-formed
 * document as malformed for lack of memory: a client told to fix its request, an operator told
 * to fix a file that is fine. (jansson 2.14 still reports a few allocation failures deep in its
 * lexer as syntax errors; nothing tells those apart.)
 */
#ifndef TS_COMMON_JSON_LOAD_H
#define TS_COMMON_JSON_LOAD_H

#include <stdbool.h>

#include <jansson.h>

/** True when the load that filled @p e (and returned NULL) ran out of memory. */
static inline bool ts_common__json_load_oom(const json_error_t *e)
{
    return e->text[0] == '\0' || json_error_code(e) == json_error_out_of_memory;
}

#endif

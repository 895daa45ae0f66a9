/* libFuzzer target: the token mappings reader and model (tokenservice/service/src/mappings*.c):
 * a document and an item of each kind from untrusted bytes, and the canonical form's round
 * trip (a checked document dumps to text that parses and checks to the same text). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mappings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_error err;
    ts_error_clear(&err);
    json_t *doc = ts_svc_map_parse((const char *)data, size, TS_SVC_MAP_DOC_MAX, "body", &err);
    if (!doc)
        return 0;
    /* The same bytes as one item of each kind (a management API body). */
    for (unsigned k = 0; k < TS_SVC_MAP_KINDS; k++) {
        json_t *item = json_deep_copy(doc);
        if (item && ts_svc_map_item_check((ts_svc_map_kind)k, item, "", &err) == TS_OK) {
            char etag[TS_SVC_MAP_ETAG_LEN + 1];
            if (ts_svc_map_etag(item, etag) && strlen(etag) != TS_SVC_MAP_ETAG_LEN)
                __builtin_trap();
        }
        json_decref(item);
    }
    if (ts_svc_map_doc_check(doc, &err) == TS_OK) {
        char *text = ts_svc_map_dump(doc);
        if (text) {
            json_t *again =
                ts_svc_map_parse(text, strlen(text), TS_SVC_MAP_DOC_MAX * 2, "body", &err);
            if (again) {
                if (ts_svc_map_doc_check(again, &err) != TS_OK)
                    __builtin_trap();
                char *text2 = ts_svc_map_dump(again);
                if (text2 && strcmp(text, text2) != 0)
                    __builtin_trap();
                free(text2);
                json_t *order = ts_svc_map_rules_in_order(again);
                if (order && json_array_size(order) !=
                                 json_array_size(ts_svc_map_doc_items(again, TS_SVC_MAP_IDENTITY)))
                    __builtin_trap();
                json_decref(order);
                json_decref(again);
            }
            free(text);
        }
    }
    json_decref(doc);
    return 0;
}

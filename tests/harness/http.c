/* HTTP requests over libcurl for the tests, the body kept up to a cap. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "harness.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Keep what fits; take everything, so that the transfer itself never fails on the cap. */
static size_t on_body(char *d, size_t s, size_t n, void *ud)
{
    ts_harness_reply *r = ud;
    size_t len = s * n, room = sizeof r->body - 1 - r->n;
    size_t take = len < room ? len : room;
    memcpy(r->body + r->n, d, take);
    r->n += take;
    r->body[r->n] = '\0';
    return len;
}

void ts_harness_http(const ts_harness_req *rq, ts_harness_reply *r)
{
    pthread_once(&curl_once, curl_init_once);
    r->status = -1;
    r->n = 0;
    r->body[0] = '\0';
    r->error[0] = '\0';
    double t0 = ts_harness_now();
    CURL *h = curl_easy_init();
    struct curl_slist *hd = NULL;
    char auth[16384];
    if (rq->bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", rq->bearer);
        hd = curl_slist_append(hd, auth);
    }
    for (size_t i = 0; rq->headers && rq->headers[i]; i++)
        hd = curl_slist_append(hd, rq->headers[i]);
    if (!h) {
        snprintf(r->error, sizeof r->error, "cannot create a curl handle");
        curl_slist_free_all(hd);
        return;
    }
    curl_easy_setopt(h, CURLOPT_URL, rq->url);
    if (rq->method)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    if (rq->body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
    if (hd)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    if (rq->path_as_is)
        curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, rq->timeout_s > 0 ? rq->timeout_s : 10L);
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    else
        snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(rc));
    r->secs = ts_harness_now() - t0;
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
}

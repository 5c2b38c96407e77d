#ifndef SUPER_AGENT_CCURL_SHIM_H
#define SUPER_AGENT_CCURL_SHIM_H
#include <dlfcn.h>
#include <pthread.h>
#include <curl/curl.h>

/* libcurl is loaded on first use (dlopen), not at process start: it drags in TLS, Kerberos and
 * LDAP libraries that `super-agent mcp` never needs unless it talks to a remote pool, and loading
 * them would cost every agent's server start-up time and memory. Each wrapper below has the same
 * meaning as the libcurl function it is named after; when libcurl cannot be loaded they fail the
 * way libcurl reports failure (NULL handle, CURLE_FAILED_INIT, CURLM_INTERNAL_ERROR). */

typedef struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd[], unsigned int, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    const char *(*multi_strerror)(CURLMcode);
    CURLMcode (*multi_wakeup)(CURLM *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} sa_curl_api_t;

/* Fills `t` from the library; 1 when every function was found. */
static inline int sa_curl_api_fill(sa_curl_api_t *t)
{
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return 0;
#define SA_CURL_SYM(field, name) *(void **)(&t->field) = dlsym(lib, name)
    SA_CURL_SYM(global_init, "curl_global_init");
    SA_CURL_SYM(easy_init, "curl_easy_init");
    SA_CURL_SYM(easy_cleanup, "curl_easy_cleanup");
    SA_CURL_SYM(easy_setopt, "curl_easy_setopt");
    SA_CURL_SYM(easy_getinfo, "curl_easy_getinfo");
    SA_CURL_SYM(easy_strerror, "curl_easy_strerror");
    SA_CURL_SYM(multi_init, "curl_multi_init");
    SA_CURL_SYM(multi_cleanup, "curl_multi_cleanup");
    SA_CURL_SYM(multi_add_handle, "curl_multi_add_handle");
    SA_CURL_SYM(multi_remove_handle, "curl_multi_remove_handle");
    SA_CURL_SYM(multi_perform, "curl_multi_perform");
    SA_CURL_SYM(multi_poll, "curl_multi_poll");
    SA_CURL_SYM(multi_info_read, "curl_multi_info_read");
    SA_CURL_SYM(multi_strerror, "curl_multi_strerror");
    SA_CURL_SYM(multi_wakeup, "curl_multi_wakeup");
    SA_CURL_SYM(slist_append, "curl_slist_append");
    SA_CURL_SYM(slist_free_all, "curl_slist_free_all");
#undef SA_CURL_SYM
    return t->global_init && t->easy_init && t->easy_cleanup
        && t->easy_setopt && t->easy_getinfo && t->easy_strerror
        && t->multi_init && t->multi_cleanup && t->multi_add_handle
        && t->multi_remove_handle && t->multi_perform && t->multi_poll
        && t->multi_info_read && t->multi_strerror && t->multi_wakeup
        && t->slist_append && t->slist_free_all;
}

/* The loaded library, or NULL when it cannot be loaded (tried once). Function-local statics:
 * a header's file-scope statics are not emitted for Swift callers. */
static inline const sa_curl_api_t *sa_curl_api(void)
{
    static sa_curl_api_t table;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int state; /* 0 not tried, 1 loaded, 2 unavailable */
    pthread_mutex_lock(&lock);
    if (state == 0) state = sa_curl_api_fill(&table) ? 1 : 2;
    int loaded = state == 1;
    pthread_mutex_unlock(&lock);
    return loaded ? &table : NULL;
}

/* 1 when libcurl could be loaded. */
static inline int sa_curl_available(void) { return sa_curl_api() != NULL; }

static inline CURLcode sa_curl_global_init(long flags)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->global_init(flags) : CURLE_FAILED_INIT; }
static inline CURL *sa_curl_easy_init(void)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->easy_init() : NULL; }
static inline void sa_curl_easy_cleanup(CURL *h)
{ const sa_curl_api_t *a = sa_curl_api(); if (a) a->easy_cleanup(h); }
static inline const char *sa_curl_easy_strerror(CURLcode c)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->easy_strerror(c) : "libcurl (libcurl.so.4) could not be loaded"; }
static inline CURLM *sa_curl_multi_init(void)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->multi_init() : NULL; }
static inline CURLMcode sa_curl_multi_cleanup(CURLM *m)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->multi_cleanup(m) : CURLM_INTERNAL_ERROR; }
static inline CURLMcode sa_curl_multi_add_handle(CURLM *m, CURL *h)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->multi_add_handle(m, h) : CURLM_INTERNAL_ERROR; }
static inline CURLMcode sa_curl_multi_remove_handle(CURLM *m, CURL *h)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->multi_remove_handle(m, h) : CURLM_INTERNAL_ERROR; }
static inline CURLMcode sa_curl_multi_perform(CURLM *m, int *running)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->multi_perform(m, running) : CURLM_INTERNAL_ERROR; }
static inline CURLMcode sa_curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned int n, int timeout_ms, int *numfds)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->multi_poll(m, extra, n, timeout_ms, numfds) : CURLM_INTERNAL_ERROR; }
static inline CURLMsg *sa_curl_multi_info_read(CURLM *m, int *left)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->multi_info_read(m, left) : NULL; }
static inline const char *sa_curl_multi_strerror(CURLMcode c)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->multi_strerror(c) : "libcurl (libcurl.so.4) could not be loaded"; }
static inline CURLMcode sa_curl_multi_wakeup(CURLM *m)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->multi_wakeup(m) : CURLM_INTERNAL_ERROR; }
static inline struct curl_slist *sa_curl_slist_append(struct curl_slist *l, const char *s)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->slist_append(l, s) : NULL; }
static inline void sa_curl_slist_free_all(struct curl_slist *l)
{ const sa_curl_api_t *a = sa_curl_api(); if (a) a->slist_free_all(l); }

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: typed wrappers. */
static inline CURLcode sa_curl_setopt_long(CURL *handle, CURLoption option, long value)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->easy_setopt(handle, option, value) : CURLE_FAILED_INIT; }
static inline CURLcode sa_curl_setopt_off(CURL *handle, CURLoption option, curl_off_t value)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->easy_setopt(handle, option, value) : CURLE_FAILED_INIT; }
/* For string options (curl copies them) and object pointers (CURLOPT_WRITEDATA, ERRORBUFFER). */
static inline CURLcode sa_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->easy_setopt(handle, option, value) : CURLE_FAILED_INIT; }
static inline CURLcode sa_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->easy_setopt(handle, option, value) : CURLE_FAILED_INIT; }
/* CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION. */
static inline CURLcode sa_curl_setopt_write_callback(CURL *handle, CURLoption option, curl_write_callback callback)
{ const sa_curl_api_t *a = sa_curl_api(); return a ? a->easy_setopt(handle, option, callback) : CURLE_FAILED_INIT; }
/* CURLINFO_RESPONSE_CODE; 0 until a status line arrived. */
static inline long sa_curl_response_code(CURL *handle)
{
    const sa_curl_api_t *a = sa_curl_api();
    long code = 0;
    if (!a || a->easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK) return 0;
    return code;
}
#endif

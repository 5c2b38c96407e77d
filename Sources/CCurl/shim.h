#ifndef SUPER_AGENT_CCURL_SHIM_H
#define SUPER_AGENT_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: typed wrappers. */

static inline CURLcode sa_curl_setopt_long(CURL *handle, CURLoption option, long value)
{
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode sa_curl_setopt_off(CURL *handle, CURLoption option, curl_off_t value)
{
    return curl_easy_setopt(handle, option, value);
}

/* For string options (curl copies them) and object pointers (CURLOPT_WRITEDATA, ERRORBUFFER). */
static inline CURLcode sa_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value)
{
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode sa_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value)
{
    return curl_easy_setopt(handle, option, value);
}

/* CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION. */
static inline CURLcode sa_curl_setopt_write_callback(CURL *handle, CURLoption option, curl_write_callback callback)
{
    return curl_easy_setopt(handle, option, callback);
}

/* CURLINFO_RESPONSE_CODE; 0 until a status line arrived. */
static inline long sa_curl_response_code(CURL *handle)
{
    long code = 0;
    if (curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK) return 0;
    return code;
}
#endif

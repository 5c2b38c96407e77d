#ifndef SUPER_AGENT_CMICROHTTPD_SHIM_H
#define SUPER_AGENT_CMICROHTTPD_SHIM_H
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdint.h>
#include <dlfcn.h>
#include <pthread.h>
#include <microhttpd.h>

/* libmicrohttpd is loaded on first use (dlopen), not at process start: only `super-agent pool`
 * serves HTTP, and the library pulls in GnuTLS, which every `super-agent mcp` start-up would
 * otherwise pay for. Each sa_mhd_* wrapper means what the MHD function it is named after means;
 * when the library cannot be loaded they fail as MHD does (NULL, MHD_NO). */

typedef struct {
    struct MHD_Daemon *(*start_daemon)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *,
                                       MHD_AccessHandlerCallback, void *, ...);
    void (*stop_daemon)(struct MHD_Daemon *);
    const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *, enum MHD_DaemonInfoType, ...);
    const union MHD_ConnectionInfo *(*get_connection_info)(struct MHD_Connection *, enum MHD_ConnectionInfoType, ...);
    const char *(*lookup_connection_value)(struct MHD_Connection *, enum MHD_ValueKind, const char *);
    enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
    struct MHD_Response *(*create_response_from_callback)(uint64_t, size_t, MHD_ContentReaderCallback, void *,
                                                          MHD_ContentReaderFreeCallback);
    struct MHD_Response *(*create_response_from_buffer)(size_t, void *, enum MHD_ResponseMemoryMode);
    void (*destroy_response)(struct MHD_Response *);
    enum MHD_Result (*add_response_header)(struct MHD_Response *, const char *, const char *);
} sa_mhd_api_t;

/* Fills `t` from the library; 1 when every function was found. */
static inline int sa_mhd_api_fill(sa_mhd_api_t *t)
{
    void *lib = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return 0;
#define SA_MHD_SYM(field, name) *(void **)(&t->field) = dlsym(lib, name)
    SA_MHD_SYM(start_daemon, "MHD_start_daemon");
    SA_MHD_SYM(stop_daemon, "MHD_stop_daemon");
    SA_MHD_SYM(get_daemon_info, "MHD_get_daemon_info");
    SA_MHD_SYM(get_connection_info, "MHD_get_connection_info");
    SA_MHD_SYM(lookup_connection_value, "MHD_lookup_connection_value");
    SA_MHD_SYM(queue_response, "MHD_queue_response");
    SA_MHD_SYM(create_response_from_callback, "MHD_create_response_from_callback");
    SA_MHD_SYM(create_response_from_buffer, "MHD_create_response_from_buffer");
    SA_MHD_SYM(destroy_response, "MHD_destroy_response");
    SA_MHD_SYM(add_response_header, "MHD_add_response_header");
#undef SA_MHD_SYM
    return t->start_daemon && t->stop_daemon
        && t->get_daemon_info && t->get_connection_info
        && t->lookup_connection_value && t->queue_response
        && t->create_response_from_callback && t->create_response_from_buffer
        && t->destroy_response && t->add_response_header;
}

/* The loaded library, or NULL when it cannot be loaded (tried once). Function-local statics:
 * a header's file-scope statics are not emitted for Swift callers. */
static inline const sa_mhd_api_t *sa_mhd_api(void)
{
    static sa_mhd_api_t table;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int state; /* 0 not tried, 1 loaded, 2 unavailable */
    pthread_mutex_lock(&lock);
    if (state == 0) state = sa_mhd_api_fill(&table) ? 1 : 2;
    int loaded = state == 1;
    pthread_mutex_unlock(&lock);
    return loaded ? &table : NULL;
}

/* 1 when libmicrohttpd could be loaded. */
static inline int sa_mhd_available(void) { return sa_mhd_api() != NULL; }

static inline void sa_mhd_stop_daemon(struct MHD_Daemon *d)
{ const sa_mhd_api_t *a = sa_mhd_api(); if (a) a->stop_daemon(d); }
static inline const char *sa_mhd_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind k, const char *key)
{ const sa_mhd_api_t *a = sa_mhd_api(); return a ? a->lookup_connection_value(c, k, key) : NULL; }
static inline enum MHD_Result sa_mhd_queue_response(struct MHD_Connection *c, unsigned int status, struct MHD_Response *r)
{ const sa_mhd_api_t *a = sa_mhd_api(); return a ? a->queue_response(c, status, r) : MHD_NO; }
static inline struct MHD_Response *sa_mhd_create_response_from_callback(uint64_t size, size_t block, MHD_ContentReaderCallback crc,
                                                                        void *cls, MHD_ContentReaderFreeCallback crfc)
{ const sa_mhd_api_t *a = sa_mhd_api(); return a ? a->create_response_from_callback(size, block, crc, cls, crfc) : NULL; }
static inline struct MHD_Response *sa_mhd_create_response_from_buffer(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode)
{ const sa_mhd_api_t *a = sa_mhd_api(); return a ? a->create_response_from_buffer(size, buffer, mode) : NULL; }
static inline void sa_mhd_destroy_response(struct MHD_Response *r)
{ const sa_mhd_api_t *a = sa_mhd_api(); if (a) a->destroy_response(r); }
static inline enum MHD_Result sa_mhd_add_response_header(struct MHD_Response *r, const char *h, const char *v)
{ const sa_mhd_api_t *a = sa_mhd_api(); return a ? a->add_response_header(r, h, v) : MHD_NO; }
/* Swift cannot call C variadic functions, so the few variadic MHD calls PoolHTTP needs are
 * wrapped here with fixed arguments. */

/* Starts a daemon with one thread per connection (so handlers may block while a run streams)
 * and a poll()-based listener, bound to `addr` (its port 0 picks an ephemeral port). Errors are
 * not printed (no MHD_USE_ERROR_LOG); NULL means the daemon could not start. */
static inline struct MHD_Daemon *
sa_mhd_start(int ipv6, const struct sockaddr *addr,
             MHD_AccessHandlerCallback handler, void *handler_cls,
             MHD_RequestCompletedCallback completed, void *completed_cls,
             unsigned int connection_limit, size_t memory_limit, unsigned int timeout_seconds)
{
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    if (ipv6) flags |= MHD_USE_IPv6;
    const sa_mhd_api_t *a = sa_mhd_api();
    if (!a) return NULL;
    return a->start_daemon(flags, 0, NULL, NULL, handler, handler_cls,
                            MHD_OPTION_SOCK_ADDR, addr,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, completed_cls,
                            MHD_OPTION_CONNECTION_LIMIT, connection_limit,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, timeout_seconds,
                            MHD_OPTION_END);
}

/* The port the daemon's listening socket is bound to; 0 when unknown. */
static inline uint16_t sa_mhd_bound_port(struct MHD_Daemon *daemon)
{
    const sa_mhd_api_t *a = sa_mhd_api();
    const union MHD_DaemonInfo *info = a ? a->get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    return info ? info->port : 0;
}

/* The connection's socket, for checking whether the peer hung up; -1 when unknown. */
static inline int sa_mhd_connection_fd(struct MHD_Connection *connection)
{
    const sa_mhd_api_t *a = sa_mhd_api();
    const union MHD_ConnectionInfo *info = a ? a->get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD) : NULL;
    return info ? (int)info->connect_fd : -1;
}
#endif

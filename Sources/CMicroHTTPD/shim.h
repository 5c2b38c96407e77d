#ifndef SUPER_AGENT_CMICROHTTPD_SHIM_H
#define SUPER_AGENT_CMICROHTTPD_SHIM_H
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdint.h>
#include <microhttpd.h>

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
    return MHD_start_daemon(flags, 0, NULL, NULL, handler, handler_cls,
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
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

/* The connection's socket, for checking whether the peer hung up; -1 when unknown. */
static inline int sa_mhd_connection_fd(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? (int)info->connect_fd : -1;
}
#endif

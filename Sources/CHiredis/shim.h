#ifndef SUPER_AGENT_CHIREDIS_SHIM_H
#define SUPER_AGENT_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>

/// The context's error text; `errstr` is a char[128] Swift imports as a tuple.
static inline const char *sa_redis_errstr(const redisContext *c) { return c->errstr; }

#endif

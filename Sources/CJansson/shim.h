#ifndef SUPER_AGENT_CJANSSON_SHIM_H
#define SUPER_AGENT_CJANSSON_SHIM_H
#include <jansson.h>

/// json_typeof is a macro; Swift needs a function.
static inline int sa_json_type(const json_t *json) { return json ? (int)json->type : -1; }

#endif

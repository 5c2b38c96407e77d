#ifndef SUPER_AGENT_CSYSTEM_H
#define SUPER_AGENT_CSYSTEM_H

/*
 * Syscalls glibc has no wrapper for (openat2, Landlock, pidfd_open, close_range with flags) and
 * the fork/exec of a run's child. Every function returns -1 and sets errno on failure, like the
 * syscall it wraps; none retries EINTR (the Swift layer does).
 */

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* glibc hides O_PATH without _GNU_SOURCE, so Swift cannot see it; this is its Linux value on
 * every architecture but alpha, parisc and sparc. */
#define SA_O_PATH 010000000

/* ---- openat2 --------------------------------------------------------------------------------- */

/* openat2(dirfd, path, {flags, mode, resolve}); ENOSYS when the kernel predates 5.6. */
int sa_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

/* openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: EXDEV when `path` (or a symlink on the
 * way, including any absolute symlink) would leave `dirfd`, ELOOP on a magic link. */
int sa_openat2_beneath(int dirfd, const char *path, int flags);

/* ---- Landlock -------------------------------------------------------------------------------- */

/* The Landlock ABI version (>= 1), or -1 with errno (ENOSYS: not built, EOPNOTSUPP: disabled). */
int sa_landlock_abi(void);

/* Access rights that modify the filesystem, for the given ABI (what a write-confining ruleset
 * handles). Reading and executing are never handled, so they stay allowed everywhere. */
uint64_t sa_landlock_fs_write_access(int abi);

/* The subset of `sa_landlock_fs_write_access` that applies to a non-directory (a rule on a file
 * such as /dev/null may only carry these). */
uint64_t sa_landlock_fs_file_write_access(int abi);

/* Scopes for the given ABI (ABI >= 6: signals to processes outside the domain are refused). */
uint64_t sa_landlock_scopes(int abi);

/* A ruleset handling `handled_fs` and `scoped`; the descriptor is close-on-exec. */
int sa_landlock_create_ruleset(uint64_t handled_fs, uint64_t scoped);

/* Allows `allowed` beneath the file or directory open at `parent_fd` (O_PATH is enough). */
int sa_landlock_allow_path(int ruleset_fd, int parent_fd, uint64_t allowed);

/* ---- descriptors ------------------------------------------------------------------------------ */

/* pipe2(fds, O_CLOEXEC) (glibc declares pipe2 only under _GNU_SOURCE). */
int sa_pipe_cloexec(int fds[2]);

/* eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK): a wake-up counter for poll. */
int sa_eventfd(void);

/* ---- processes ------------------------------------------------------------------------------- */

/* pidfd_open(pid, 0): a descriptor that polls readable when the process exits (Linux 5.3+). */
int sa_pidfd_open(pid_t pid);

/* One resource limit to lower in the child (never raised: min with the current hard limit). */
typedef struct sa_rlimit {
    int resource;
    uint64_t limit;
} sa_rlimit;

typedef struct sa_spawn_request {
    /* Absolute path of the program; argv and envp are NULL-terminated. */
    const char *path;
    char *const *argv;
    char *const *envp;
    /* Become the child's 0, 1 and 2. */
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    /* The child fchdir()s here before exec. */
    int cwd_fd;
    /* A Landlock ruleset to enforce (after PR_SET_NO_NEW_PRIVS), or -1 for none. */
    int landlock_fd;
    const sa_rlimit *rlimits;
    int rlimit_count;
} sa_spawn_request;

/* Where a failed spawn stopped (reported with the errno of that step). */
enum {
    SA_STAGE_NONE = 0,
    SA_STAGE_PIPE = 1,
    SA_STAGE_FORK = 2,
    SA_STAGE_SIGNALS = 3,
    SA_STAGE_SETPGID = 4,
    SA_STAGE_DUP = 5,
    SA_STAGE_FCHDIR = 6,
    SA_STAGE_RLIMIT = 7,
    SA_STAGE_NO_NEW_PRIVS = 8,
    SA_STAGE_LANDLOCK = 9,
    SA_STAGE_CLOSE_FDS = 10,
    SA_STAGE_EXEC = 11,
};

/*
 * fork()s a child that, using only async-signal-safe syscalls: resets every signal disposition
 * to default, becomes leader of its own process group, moves the three descriptors onto 0/1/2,
 * fchdir()s into cwd_fd, lowers the resource limits, enforces the Landlock ruleset (with
 * no_new_privs), marks every other descriptor close-on-exec, unblocks all signals and execve()s.
 *
 * Returns 0 with *pid_out set once the exec succeeded (the parent has also called setpgid, so
 * the group exists before this returns). Returns -1 with *stage_out and *errno_out when any step
 * failed; a child that was forked is then already reaped.
 */
int sa_spawn(const sa_spawn_request *request, pid_t *pid_out, int *stage_out, int *errno_out);

#ifdef __cplusplus
}
#endif

#endif

#define _GNU_SOURCE
#include "csystem.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Syscall numbers are unified across architectures from 5.x on (alpha aside). */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

/* uapi values, spelled out so older headers still build (linux/openat2.h, linux/landlock.h). */
#define SA_RESOLVE_NO_MAGICLINKS 0x02ULL
#define SA_RESOLVE_BENEATH 0x08ULL
#define SA_CLOSE_RANGE_CLOEXEC (1U << 2)

#define SA_LL_CREATE_RULESET_VERSION (1U << 0)
#define SA_LL_RULE_PATH_BENEATH 1

#define SA_LL_FS_EXECUTE (1ULL << 0)
#define SA_LL_FS_WRITE_FILE (1ULL << 1)
#define SA_LL_FS_READ_FILE (1ULL << 2)
#define SA_LL_FS_READ_DIR (1ULL << 3)
#define SA_LL_FS_REMOVE_DIR (1ULL << 4)
#define SA_LL_FS_REMOVE_FILE (1ULL << 5)
#define SA_LL_FS_MAKE_CHAR (1ULL << 6)
#define SA_LL_FS_MAKE_DIR (1ULL << 7)
#define SA_LL_FS_MAKE_REG (1ULL << 8)
#define SA_LL_FS_MAKE_SOCK (1ULL << 9)
#define SA_LL_FS_MAKE_FIFO (1ULL << 10)
#define SA_LL_FS_MAKE_BLOCK (1ULL << 11)
#define SA_LL_FS_MAKE_SYM (1ULL << 12)
#define SA_LL_FS_REFER (1ULL << 13)    /* ABI 2 */
#define SA_LL_FS_TRUNCATE (1ULL << 14) /* ABI 3 */

#define SA_LL_SCOPE_SIGNAL (1ULL << 1) /* ABI 6 */

struct sa_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

struct sa_landlock_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

struct sa_landlock_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

int sa_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct sa_open_how how;
    memset(&how, 0, sizeof how);
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int sa_openat2_beneath(int dirfd, const char *path, int flags) {
    return sa_openat2(dirfd, path, (uint64_t)(unsigned int)(flags | O_CLOEXEC), 0,
                      SA_RESOLVE_BENEATH | SA_RESOLVE_NO_MAGICLINKS);
}

int sa_landlock_abi(void) {
    return (int)syscall(SYS_landlock_create_ruleset, NULL, 0, SA_LL_CREATE_RULESET_VERSION);
}

uint64_t sa_landlock_fs_write_access(int abi) {
    if (abi < 1) return 0;
    uint64_t access = SA_LL_FS_WRITE_FILE | SA_LL_FS_REMOVE_DIR | SA_LL_FS_REMOVE_FILE |
                      SA_LL_FS_MAKE_CHAR | SA_LL_FS_MAKE_DIR | SA_LL_FS_MAKE_REG | SA_LL_FS_MAKE_SOCK |
                      SA_LL_FS_MAKE_FIFO | SA_LL_FS_MAKE_BLOCK | SA_LL_FS_MAKE_SYM;
    if (abi >= 2) access |= SA_LL_FS_REFER;
    if (abi >= 3) access |= SA_LL_FS_TRUNCATE;
    return access;
}

uint64_t sa_landlock_fs_file_write_access(int abi) {
    if (abi < 1) return 0;
    uint64_t access = SA_LL_FS_WRITE_FILE;
    if (abi >= 3) access |= SA_LL_FS_TRUNCATE;
    return access;
}

uint64_t sa_landlock_scopes(int abi) {
    return abi >= 6 ? SA_LL_SCOPE_SIGNAL : 0;
}

int sa_landlock_create_ruleset(uint64_t handled_fs, uint64_t scoped) {
    struct sa_landlock_ruleset_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.handled_access_fs = handled_fs;
    attr.scoped = scoped;
    /* Older kernels only know the first field; a shorter size is accepted by every ABI. */
    size_t size = scoped ? sizeof attr : sizeof attr.handled_access_fs;
    return (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
}

int sa_landlock_allow_path(int ruleset_fd, int parent_fd, uint64_t allowed) {
    struct sa_landlock_path_beneath_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.allowed_access = allowed;
    attr.parent_fd = parent_fd;
    return (int)syscall(SYS_landlock_add_rule, ruleset_fd, SA_LL_RULE_PATH_BENEATH, &attr, 0);
}

int sa_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int sa_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int sa_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* ---- spawn ----------------------------------------------------------------------------------- */

/* Child side: report (stage, errno) through the close-on-exec pipe and die. Never returns. */
static void child_fail(int report_fd, int stage, int err) {
    int message[2] = {stage, err};
    const char *p = (const char *)message;
    size_t left = sizeof message;
    while (left > 0) {
        ssize_t n = write(report_fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        p += n;
        left -= (size_t)n;
    }
    _exit(127);
}

/* Child side: `fd` moved to a descriptor >= 3 so the dup2 onto 0..2 cannot clobber a source. */
static int child_lift(int fd, int report_fd) {
    int lifted = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (lifted < 0) child_fail(report_fd, SA_STAGE_DUP, errno);
    return lifted;
}

static void child_run(const sa_spawn_request *r, int report_fd) {
    /* All signals are blocked (inherited from the parent's mask); reset what the parent handles
     * or ignores so neither a Swift handler nor an inherited SIG_IGN reaches the program. The raw
     * syscall also reaches the signals glibc reserves (32, 33), which its sigaction refuses. An
     * all-zero kernel sigaction is SIG_DFL with no flags and an empty mask on every layout. */
    unsigned long zeroed[16];
    memset(zeroed, 0, sizeof zeroed);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        (void)syscall(SYS_rt_sigaction, sig, zeroed, NULL, (size_t)(NSIG / 8));
    }

    if (setpgid(0, 0) < 0) child_fail(report_fd, SA_STAGE_SETPGID, errno);

    int in = child_lift(r->stdin_fd, report_fd);
    int out = child_lift(r->stdout_fd, report_fd);
    int err = child_lift(r->stderr_fd, report_fd);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) child_fail(report_fd, SA_STAGE_DUP, errno);

    if (fchdir(r->cwd_fd) < 0) child_fail(report_fd, SA_STAGE_FCHDIR, errno);

    for (int i = 0; i < r->rlimit_count; i++) {
        struct rlimit current;
        if (getrlimit(r->rlimits[i].resource, &current) < 0) child_fail(report_fd, SA_STAGE_RLIMIT, errno);
        rlim_t wanted = (rlim_t)r->rlimits[i].limit;
        if (current.rlim_max != RLIM_INFINITY && wanted > current.rlim_max) wanted = current.rlim_max;
        struct rlimit lowered = {wanted, wanted};
        if (setrlimit(r->rlimits[i].resource, &lowered) < 0) child_fail(report_fd, SA_STAGE_RLIMIT, errno);
    }

    if (r->landlock_fd >= 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(report_fd, SA_STAGE_NO_NEW_PRIVS, errno);
        if (syscall(SYS_landlock_restrict_self, r->landlock_fd, 0) < 0) child_fail(report_fd, SA_STAGE_LANDLOCK, errno);
    }

    /* Everything but 0..2 goes at exec; the report pipe stays usable until then. */
    if (syscall(SYS_close_range, 3U, ~0U, SA_CLOSE_RANGE_CLOEXEC) < 0) {
        struct rlimit nofile;
        long max = 65536;
        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY && (long)nofile.rlim_cur < max)
            max = (long)nofile.rlim_cur;
        for (int fd = 3; fd < max; fd++) (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    }

    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) child_fail(report_fd, SA_STAGE_SIGNALS, errno);

    execve(r->path, r->argv, r->envp);
    child_fail(report_fd, SA_STAGE_EXEC, errno);
}

struct sa_child_args {
    const sa_spawn_request *request;
    int report_read;
    int report_write;
};

static int child_trampoline(void *raw) {
    struct sa_child_args *a = raw;
    close(a->report_read);
    child_run(a->request, a->report_write);
    _exit(127); /* not reached */
}

int sa_spawn(const sa_spawn_request *request, pid_t *pid_out, int *stage_out, int *errno_out) {
    *pid_out = -1;
    *stage_out = SA_STAGE_NONE;
    *errno_out = 0;

    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) {
        *stage_out = SA_STAGE_PIPE;
        *errno_out = errno;
        return -1;
    }

    /* Block every signal across fork so the child cannot run a parent handler before it has
     * reset the dispositions. */
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    /* vfork semantics (as glibc's posix_spawn): the child shares the parent's memory on a stack
     * of its own and the calling thread sleeps until it execs or dies, so no page tables are
     * copied and none torn down at exec, and the parent takes no copy-on-write faults after. */
    struct sa_child_args args = {request, report[0], report[1]};
    size_t stack_size = 64 * 1024;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    pid_t pid = -1;
    if (stack == MAP_FAILED) {
        errno = ENOMEM;
    } else {
        pid = clone(child_trampoline, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
    }
    int fork_errno = errno;
    if (stack != MAP_FAILED) munmap(stack, stack_size);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(report[1]);

    if (pid < 0) {
        close(report[0]);
        *stage_out = SA_STAGE_FORK;
        *errno_out = fork_errno;
        return -1;
    }

    /* Both sides call setpgid so the group exists whichever runs first; after the child's exec
     * this fails with EACCES, which is fine. */
    (void)setpgid(pid, pid);

    int message[2] = {0, 0};
    size_t got = 0;
    while (got < sizeof message) {
        ssize_t n = read(report[0], (char *)message + got, sizeof message - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(report[0]);

    if (got == 0) {
        *pid_out = pid;
        return 0;
    }

    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    *stage_out = got == sizeof message ? message[0] : SA_STAGE_EXEC;
    *errno_out = got == sizeof message ? message[1] : EIO;
    return -1;
}

#define _GNU_SOURCE
#include "cpty.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int cpty_open(char *name, size_t name_length) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) return -errno;
    if (grantpt(master) != 0 || unlockpt(master) != 0) {
        int error = errno;
        close(master);
        return -error;
    }
    int result = ptsname_r(master, name, name_length);
    if (result != 0) {
        close(master);
        return -result;
    }
    return master;
}

short cpty_spawn_setsid(void) { return POSIX_SPAWN_SETSID; }

int cpty_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

int cpty_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int cpty_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno; }

// The child's side of cpty_spawn_as: async-signal-safe calls only (the parent is multithreaded). Never returns.
static void spawn_as_child(
    int report, const char *path, char *const argv[], char *const envp[], const char *directory,
    const char *const stdio_paths[3], const int stdio_fds[3], uid_t uid, gid_t gid) {
    int error = 0;
    // The report pipe must survive the stdio juggling below; keep it above 2.
    if (report < 3) {
        int moved = fcntl(report, F_DUPFD_CLOEXEC, 3);
        if (moved < 0) _exit(127);
        report = moved;
    }
    // Default dispositions first (the agent ignores SIGPIPE, its handlers must not run here), then unblock. By raw
    // syscall: glibc's sigaction refuses its own signals (32, 33), which the caller may have set to SIG_IGN.
    struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } action = {0};
    action.handler = (void *)SIG_DFL;
    for (int signal = 1; signal < _NSIG; signal++) {
        if (signal != SIGKILL && signal != SIGSTOP) syscall(SYS_rt_sigaction, signal, &action, NULL, sizeof action.mask);
    }
    sigset_t none;
    sigemptyset(&none);
    if (setsid() < 0) goto failed;
    for (int target = 0; target < 3; target++) {
        if (stdio_paths[target] != NULL) {
            int fd = open(stdio_paths[target], O_RDWR);
            if (fd < 0) goto failed;
            if (fd != target) {
                if (dup2(fd, target) < 0) goto failed;
                close(fd);
            }
        } else if (stdio_fds[target] >= 0) {
            if (stdio_fds[target] == target) {
                int flags = fcntl(target, F_GETFD);
                if (flags < 0 || fcntl(target, F_SETFD, flags & ~FD_CLOEXEC) < 0) goto failed;
            } else if (dup2(stdio_fds[target], target) < 0) {
                goto failed;
            }
        }
    }
    if (chdir(directory) != 0) goto failed;
    gid_t groups[1] = {gid};
    if (syscall(SYS_setgroups, 1, groups) != 0) goto failed;
    if (syscall(SYS_setresgid, gid, gid, gid) != 0) goto failed;
    if (syscall(SYS_setresuid, uid, uid, uid) != 0) goto failed;
    // Everything but stdio and the report pipe (close-on-exec itself); close_range needs Linux 5.9.
    if (report > 3 && syscall(SYS_close_range, 3U, (unsigned)report - 1, 0U) != 0) {
        for (int fd = 3; fd < report; fd++) close(fd);
    }
    if (syscall(SYS_close_range, (unsigned)report + 1, ~0U, 0U) != 0) {
        for (int fd = report + 1; fd < 65536; fd++) close(fd);
    }
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(path, argv, envp);
failed:
    error = errno;
    while (write(report, &error, sizeof error) < 0 && errno == EINTR) {}
    _exit(127);
}

int cpty_spawn_as(
    pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *directory,
    const char *const stdio_paths[3], const int stdio_fds[3], uid_t uid, gid_t gid) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return errno;
    // No signal may be handled in the child before its dispositions are reset.
    sigset_t all, before;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &before);
    // _Fork (glibc 2.34): fork without the atfork handlers, async-signal-safe itself.
    pid_t child = _Fork();
    if (child == 0) {
        close(report[0]);
        spawn_as_child(report[1], path, argv, envp, directory, stdio_paths, stdio_fds, uid, gid);
    }
    int fork_error = errno;
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    close(report[1]);
    if (child < 0) {
        close(report[0]);
        return fork_error;
    }
    // The pipe closes at a successful exec (close-on-exec) or carries the errno of the failed step.
    int error = 0;
    ssize_t count;
    do {
        count = read(report[0], &error, sizeof error);
    } while (count < 0 && errno == EINTR);
    close(report[0]);
    if (count == (ssize_t)sizeof error) {
        // Reaped here, as posix_spawn does (a reaper of every child may have taken it already).
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {}
        return error != 0 ? error : ECHILD;
    }
    *pid = child;
    return 0;
}

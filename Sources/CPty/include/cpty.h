// The few glibc calls Swift's Glibc module does not expose (they need _GNU_SOURCE or _XOPEN_SOURCE):
// PTY allocation, posix_spawn's chdir and setsid extensions, pipe2; and a spawn with other credentials, which
// posix_spawn cannot do. Implemented in cpty.c.
#ifndef STUDIO_CPTY_H
#define STUDIO_CPTY_H

#include <spawn.h>
#include <stddef.h>
#include <sys/types.h>

/// Opens a new PTY master (close-on-exec, not our controlling terminal), grants and unlocks its slave and writes the
/// slave's path into `name`. Returns the master descriptor, or -errno.
int cpty_open(char *name, size_t name_length);

/// POSIX_SPAWN_SETSID: the child calls setsid() before its file actions run.
short cpty_spawn_setsid(void);

/// posix_spawn_file_actions_addchdir_np.
int cpty_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);

/// posix_spawn_file_actions_addclosefrom_np: the child closes every descriptor from `from` up.
int cpty_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/// pipe2(fds, O_CLOEXEC). Returns 0, or -errno.
int cpty_pipe_cloexec(int fds[2]);

/// Starts `path` like posix_spawn with POSIX_SPAWN_SETSID, default signal dispositions and an empty mask, but as
/// `uid`/`gid` with the single supplementary group `gid`. _Fork() (no atfork handlers); the child does only
/// async-signal-safe work: setsid; for fd 0, 1, 2 in order, open `stdio_paths[i]` read-write (a terminal opened here,
/// after setsid, becomes the controlling terminal) or dup2 `stdio_fds[i]` (-1 and no path: keep the caller's);
/// chdir `directory`; setgroups, setresgid, setresuid by raw syscall (the child has one thread, glibc's broadcast
/// to other threads is neither needed nor safe); close every descriptor from 3 up; execve.
/// Returns 0 and the child's pid in `*pid`, or an errno value if any step failed (the child is then reaped here),
/// as posix_spawn does.
int cpty_spawn_as(
    pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *directory,
    const char *const stdio_paths[3], const int stdio_fds[3], uid_t uid, gid_t gid);

#endif

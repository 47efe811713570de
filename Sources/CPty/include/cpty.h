// The few glibc calls Swift's Glibc module does not expose (they need _GNU_SOURCE or _XOPEN_SOURCE):
// PTY allocation, posix_spawn's chdir and setsid extensions, pipe2. Implemented in cpty.c.
#ifndef STUDIO_CPTY_H
#define STUDIO_CPTY_H

#include <spawn.h>
#include <stddef.h>

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

#endif

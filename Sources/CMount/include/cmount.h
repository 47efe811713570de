// Linux's new mount API and the other namespace calls the container backend needs, as plain functions
// (glibc 2.36 has no wrappers for them, and Swift cannot call the variadic syscall()). Implemented in cmount.c.
// Every function returns a descriptor or 0 on success, and -errno on failure.
#ifndef STUDIO_CMOUNT_H
#define STUDIO_CMOUNT_H

#include <stdint.h>

/// MOUNT_ATTR_* bits for cmount_setattr.
#define CMOUNT_ATTR_RDONLY 0x00000001u
#define CMOUNT_ATTR_NOSUID 0x00000002u
#define CMOUNT_ATTR_NODEV 0x00000004u
#define CMOUNT_ATTR_IDMAP 0x00100000u

/// A descriptor of a new user namespace whose uid_map and gid_map are the given texts (uid_map(5) lines,
/// "INSIDE OUTSIDE COUNT\n…"). Made by a short-lived child that only unshares and waits; the caller needs
/// CAP_SETUID/CAP_SETGID. Used only to carry a map for an idmapped mount; nothing runs in it.
int cmount_userns(const char *uid_map, const char *gid_map);

/// open_tree(dirfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW [| AT_RECURSIVE] [| AT_EMPTY_PATH]):
/// a detached copy of the mount at path (an empty path with dirfd: the directory dirfd itself).
int cmount_clone_tree(int dirfd, const char *path, int recursive);

/// mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {attr_set, 0, 0, userns_fd}).
int cmount_setattr(int fd, uint64_t attr_set, int userns_fd, int recursive);

/// move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH): attaches a detached tree at target.
int cmount_attach(int fd, const char *target);

/// unshare(CLONE_NEWNS), then every mount in the new namespace made private, so nothing done here reaches the host.
int cmount_private_namespace(void);

#endif

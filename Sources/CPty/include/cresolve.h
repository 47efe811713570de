// openat2(2) with RESOLVE_IN_ROOT, which glibc 2.36 does not wrap and Swift cannot reach (syscall() is variadic).
// Implemented in cresolve.c.
#ifndef STUDIO_CRESOLVE_H
#define STUDIO_CRESOLVE_H

/// Opens `path` inside the tree `root` (a directory descriptor) as if `root` were "/": an absolute symbolic link and
/// ".." resolve within the tree, never above it, and magic links (/proc/self/fd/N) are refused
/// (openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS). O_CLOEXEC is always added to `flags`.
/// Returns the descriptor, or -errno (-ENOSYS before Linux 5.6).
int cresolve_open_in_root(int root, const char *path, int flags);

/// O_PATH (a descriptor that only names a file: fstat works on it, nothing is opened for reading).
int cresolve_o_path(void);

#endif

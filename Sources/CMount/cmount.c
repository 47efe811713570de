#define _GNU_SOURCE
#include "cmount.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

struct cmount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

static int write_text(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t length = strlen(text);
    ssize_t written = write(fd, text, length);
    int error = written == (ssize_t)length ? 0 : (written < 0 ? errno : EIO);
    close(fd);
    return -error;
}

int cmount_userns(const char *uid_map, const char *gid_map) {
    int gate[2];
    if (pipe2(gate, O_CLOEXEC) != 0) return -errno;
    pid_t child = fork();
    if (child < 0) {
        int error = errno;
        close(gate[0]);
        close(gate[1]);
        return -error;
    }
    if (child == 0) {
        // Only async-signal-safe calls: unshare, then wait for the parent to be done with our namespace.
        char byte;
        close(gate[1]);
        if (unshare(CLONE_NEWUSER) != 0) _exit(1);
        while (read(gate[0], &byte, 1) < 0 && errno == EINTR) {}
        _exit(0);
    }
    close(gate[0]);
    char path[64], theirs[64];
    const char *own = "/proc/self/ns/user";
    int result = 0;
    // Wait until the child is in its own user namespace.
    char ownTarget[128] = {0}, childTarget[128] = {0};
    if (readlink(own, ownTarget, sizeof ownTarget - 1) < 0) result = -errno;
    snprintf(theirs, sizeof theirs, "/proc/%d/ns/user", (int)child);
    for (int tries = 0; result == 0; tries++) {
        memset(childTarget, 0, sizeof childTarget);
        if (readlink(theirs, childTarget, sizeof childTarget - 1) < 0) { result = -errno; break; }
        if (strcmp(childTarget, ownTarget) != 0) break;
        int status;
        if (waitpid(child, &status, WNOHANG) == child) { child = -1; result = -EPERM; break; }
        if (tries > 5000) { result = -ETIMEDOUT; break; }
        usleep(200);
    }
    if (result == 0) {
        snprintf(path, sizeof path, "/proc/%d/uid_map", (int)child);
        result = write_text(path, uid_map);
    }
    if (result == 0) {
        snprintf(path, sizeof path, "/proc/%d/gid_map", (int)child);
        result = write_text(path, gid_map);
    }
    int fd = -1;
    if (result == 0) {
        fd = open(theirs, O_RDONLY | O_CLOEXEC);
        if (fd < 0) result = -errno;
    }
    close(gate[1]);
    if (child > 0) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    }
    return result == 0 ? fd : result;
}

int cmount_clone_tree(int dirfd, const char *path, int recursive) {
    unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW;
    if (recursive) flags |= AT_RECURSIVE;
    if (path[0] == 0) flags |= AT_EMPTY_PATH;
    long fd = syscall(SYS_open_tree, dirfd, path, flags);
    return fd < 0 ? -errno : (int)fd;
}

int cmount_setattr(int fd, uint64_t attr_set, int userns_fd, int recursive) {
    struct cmount_attr attr = {.attr_set = attr_set, .attr_clr = 0, .propagation = 0, .userns_fd = (uint64_t)userns_fd};
    unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
    return syscall(SYS_mount_setattr, fd, "", flags, &attr, sizeof attr) == 0 ? 0 : -errno;
}

int cmount_attach(int fd, const char *target) {
    return syscall(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) == 0 ? 0 : -errno;
}

int cmount_private_namespace(void) {
    if (unshare(CLONE_NEWNS) != 0) return -errno;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -errno;
    return 0;
}


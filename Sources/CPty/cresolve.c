#define _GNU_SOURCE
#include "cresolve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

// linux/openat2.h, spelled out: it is not in every libc's headers.
struct cresolve_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

#define CRESOLVE_NO_MAGICLINKS 0x02
#define CRESOLVE_IN_ROOT 0x10

int cresolve_open_in_root(int root, const char *path, int flags) {
    struct cresolve_open_how how = {
        .flags = (uint64_t)(unsigned int)(flags | O_CLOEXEC),
        .mode = 0,
        .resolve = CRESOLVE_IN_ROOT | CRESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, root, path, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

int cresolve_o_path(void) { return O_PATH; }

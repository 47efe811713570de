#ifndef STUDIO_CSYSTEMD_SHIM_H
#define STUDIO_CSYSTEMD_SHIM_H

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>
#include <sys/uio.h>

#endif

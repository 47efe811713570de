#ifndef STUDIO_CPAM_SHIM_H
#define STUDIO_CPAM_SHIM_H

#include <security/pam_appl.h>

#endif

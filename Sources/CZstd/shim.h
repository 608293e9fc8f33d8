#ifndef C_ZSTD_SHIM_H
#define C_ZSTD_SHIM_H

// libzstd's stable C API (Debian: libzstd-dev), for MCAP chunk compression.
#include <zstd.h>

#endif

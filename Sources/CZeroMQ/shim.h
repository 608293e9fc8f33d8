#ifndef C_ZERO_MQ_SHIM_H
#define C_ZERO_MQ_SHIM_H

// libzmq's C API (Debian: libzmq3-dev). ZMQ_BUILD_DRAFT_API is not defined:
// only the stable API is used.
#include <zmq.h>
#include <errno.h>

// errno values that Swift cannot import as macros on every platform.
static inline int czmq_errno_eagain(void) { return EAGAIN; }
static inline int czmq_errno_eintr(void) { return EINTR; }
static inline int czmq_errno_eterm(void) { return ETERM; }

#endif

#ifndef C_LINUX_H
#define C_LINUX_H

#include <pthread.h>

/// Pins the calling thread to one CPU; returns 0 or an errno value.
int sl_pin_current_thread(int cpu);

/// Moves every other thread of the process off `cpu` (their CPU sets minus
/// it; a thread that may run only there gets the main thread's set minus it),
/// so that a loop pinned to `cpu` has it to itself. Returns how many threads
/// it moved, or a negative errno value (-EINVAL when no other CPU is allowed).
int sl_move_other_threads_off_cpu(int cpu);

/// Names the calling thread (15 characters at most), for top and gdb; returns 0 or an errno value.
int sl_name_current_thread(const char *name);

/// Sets the calling thread's timer slack (how late the kernel may wake it to
/// batch timers; 50 µs by default for normal threads); returns 0 or an errno value.
int sl_set_timer_slack(unsigned long nanoseconds);

/// Puts the calling thread in SCHED_IDLE: it runs only on CPU time no other
/// thread wants (the session recorder beside the loop); returns 0 or an errno value.
int sl_set_current_thread_idle(void);

/// Lets `sl_interrupt_thread` interrupt the calling thread: installs (once) a
/// handler for SIGURG that does nothing and does not restart system calls,
/// and unblocks SIGURG in this thread (libdispatch's threads block it), so
/// that a blocking call in it returns EINTR.
void sl_accept_interrupts(void);

/// Sends SIGURG to `thread`; returns 0 or an errno value.
int sl_interrupt_thread(pthread_t thread);

#endif

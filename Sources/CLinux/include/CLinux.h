#ifndef C_LINUX_H
#define C_LINUX_H

/// Pins the calling thread to one CPU; returns 0 or an errno value.
int sl_pin_current_thread(int cpu);

/// Names the calling thread (15 characters at most), for top and gdb; returns 0 or an errno value.
int sl_name_current_thread(const char *name);

#endif

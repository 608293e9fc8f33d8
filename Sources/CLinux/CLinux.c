// GNU extensions that Swift's Glibc module does not export (as swift-nio's CNIOLinux).
#define _GNU_SOURCE
#include "CLinux.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

int sl_pin_current_thread(int cpu) {
#ifdef __linux__
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
#else
    (void)cpu;
    return ENOSYS;
#endif
}

int sl_move_other_threads_off_cpu(int cpu) {
#ifdef __linux__
    if (cpu < 0 || cpu >= CPU_SETSIZE) return -EINVAL;
    cpu_set_t fallback;
    if (sched_getaffinity(getpid(), sizeof fallback, &fallback) != 0) return -errno;
    CPU_CLR(cpu, &fallback);
    if (CPU_COUNT(&fallback) == 0) return -EINVAL;
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) return -errno;
    pid_t self = (pid_t)syscall(SYS_gettid);
    int moved = 0, failure = 0;
    struct dirent *entry;
    while ((entry = readdir(tasks)) != NULL) {
        pid_t tid = (pid_t)atoi(entry->d_name);
        if (tid <= 0 || tid == self) continue;
        cpu_set_t set;
        if (sched_getaffinity(tid, sizeof set, &set) != 0) continue;  /* exited meanwhile */
        if (!CPU_ISSET(cpu, &set)) continue;
        CPU_CLR(cpu, &set);
        if (CPU_COUNT(&set) == 0) set = fallback;
        if (sched_setaffinity(tid, sizeof set, &set) == 0) moved++;
        else if (errno != ESRCH) failure = errno;
    }
    closedir(tasks);
    return failure != 0 ? -failure : moved;
#else
    (void)cpu;
    return -ENOSYS;
#endif
}

int sl_name_current_thread(const char *name) {
#ifdef __linux__
    return pthread_setname_np(pthread_self(), name);
#else
    (void)name;
    return ENOSYS;
#endif
}

int sl_set_timer_slack(unsigned long nanoseconds) {
#ifdef __linux__
    return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0) == 0 ? 0 : errno;
#else
    (void)nanoseconds;
    return ENOSYS;
#endif
}

int sl_set_current_thread_idle(void) {
#ifdef __linux__
    struct sched_param param = {0};
    return pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
#else
    return ENOSYS;
#endif
}

static void sl_ignore_interrupt(int signal) { (void)signal; }

static void sl_install_interrupt_handler_once(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = sl_ignore_interrupt;  /* no SA_RESTART: the call returns EINTR */
    sigemptyset(&action.sa_mask);
    sigaction(SIGURG, &action, NULL);
}

void sl_accept_interrupts(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sl_install_interrupt_handler_once);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGURG);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int sl_interrupt_thread(pthread_t thread) { return pthread_kill(thread, SIGURG); }

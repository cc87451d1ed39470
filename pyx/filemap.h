/* The SIGBUS guard of ringcap's capture-file maps (pyx/_filemap.pyx).
 *
 * A read-only shared map of a file faults with SIGBUS where another process
 * truncated the file.  The guard is one process-wide SA_SIGINFO handler and
 * a small registry of the live maps.  A fault the kernel raises inside a
 * registered map gets an anonymous zero page mapped over the faulting page
 * (MAP_FIXED), the map's fault count and first faulting page are recorded,
 * and the access is retried: it reads zeros.  The reader sees the count or
 * the file's new size and reports the truncation at its offset.
 *
 * Every other SIGBUS (a fault elsewhere, a signal sent by kill/raise) goes
 * where it would have gone without the guard: to the handler that was
 * installed before (faulthandler prints its traceback), then the default
 * action, which ends the process with SIGBUS.
 *
 * Writers of the registry hold the GIL (one at a time); the handler only
 * reads it, with atomic loads, and updates the fault fields atomically.
 */
#ifndef RINGCAP_FILEMAP_H
#define RINGCAP_FILEMAP_H
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RC_MAP_SLOTS 4096

typedef struct {
    uintptr_t start;            /* 0: a free slot */
    uintptr_t end;
    uint64_t faults;            /* pages the guard replaced with zeros */
    uint64_t first_fault;       /* lowest replaced page, as an offset from start */
} rc_map_slot;

static rc_map_slot rc_maps[RC_MAP_SLOTS];
static int rc_slots_used;       /* slots below this index may be in use */
static struct sigaction rc_previous;
static volatile sig_atomic_t rc_chaining;
static uintptr_t rc_page_size;

static void rc_step_aside(int sig, siginfo_t *info, void *context) {
    /* Not a fault in one of our maps: what would have happened without us. */
    struct sigaction previous = rc_previous, dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    int is_function = (previous.sa_flags & SA_SIGINFO)
        ? previous.sa_sigaction != NULL
        : (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN);
    if (is_function && !rc_chaining) {
        rc_chaining = 1;        /* a handler that raises the signal again reaches SIG_DFL */
        if (previous.sa_flags & SA_SIGINFO)
            previous.sa_sigaction(sig, info, context);
        else
            previous.sa_handler(sig);
        rc_chaining = 0;
    }
    /* The default action: a fault retried on return kills the process with SIGBUS;
     * a sent signal is sent again, delivered once this handler returns. */
    sigaction(sig, &dfl, NULL);
    if (info == NULL || info->si_code <= 0)
        raise(sig);
}

static void rc_on_sigbus(int sig, siginfo_t *info, void *context) {
    int saved_errno = errno;
    if (info != NULL && info->si_code > 0) {            /* raised by the kernel: a fault */
        uintptr_t address = (uintptr_t)info->si_addr;
        int used = __atomic_load_n(&rc_slots_used, __ATOMIC_ACQUIRE);
        for (int i = 0; i < used; i++) {
            rc_map_slot *slot = &rc_maps[i];
            uintptr_t start = __atomic_load_n(&slot->start, __ATOMIC_ACQUIRE);
            if (start == 0 || address < start || address >= __atomic_load_n(&slot->end, __ATOMIC_RELAXED))
                continue;
            uintptr_t page = address & ~(rc_page_size - 1);
            if (mmap((void *)page, rc_page_size, PROT_READ,
                     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
                break;
            uint64_t at = page - start, seen = __atomic_load_n(&slot->first_fault, __ATOMIC_RELAXED);
            while (at < seen && !__atomic_compare_exchange_n(&slot->first_fault, &seen, at, 0,
                                                              __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                ;
            __atomic_fetch_add(&slot->faults, 1, __ATOMIC_RELEASE);
            errno = saved_errno;
            return;                                     /* the access is retried: zeros */
        }
    }
    rc_step_aside(sig, info, context);
    errno = saved_errno;
}

/* 1 if the guard is SIGBUS's handler now, 0 if not, -1 on error (errno set). */
static int rc_guard_installed(void) {
    struct sigaction current;
    if (sigaction(SIGBUS, NULL, &current) < 0)
        return -1;
    return (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == rc_on_sigbus;
}

/* Make the guard SIGBUS's handler, keeping the one it replaces to pass other
 * faults to; 0, or -1 with errno set. */
static int rc_install_guard(void) {
    struct sigaction current, guard;
    if (rc_page_size == 0)
        rc_page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (sigaction(SIGBUS, NULL, &current) < 0)
        return -1;
    if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == rc_on_sigbus)
        return 0;
    rc_previous = current;
    memset(&guard, 0, sizeof guard);
    guard.sa_sigaction = rc_on_sigbus;
    guard.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&guard.sa_mask);
    return sigaction(SIGBUS, &guard, NULL);
}

/* Register [start, end); the slot's index, or -1 when every slot is taken. */
static int rc_register_map(uintptr_t start, uintptr_t end) {
    for (int i = 0; i < RC_MAP_SLOTS; i++) {
        rc_map_slot *slot = &rc_maps[i];
        if (__atomic_load_n(&slot->start, __ATOMIC_RELAXED) != 0)
            continue;
        __atomic_store_n(&slot->end, end, __ATOMIC_RELAXED);
        __atomic_store_n(&slot->faults, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&slot->first_fault, UINT64_MAX, __ATOMIC_RELAXED);
        __atomic_store_n(&slot->start, start, __ATOMIC_RELEASE);
        if (i >= rc_slots_used)
            __atomic_store_n(&rc_slots_used, i + 1, __ATOMIC_RELEASE);
        return i;
    }
    return -1;
}

static void rc_unregister_map(int i) {
    __atomic_store_n(&rc_maps[i].start, 0, __ATOMIC_RELEASE);
}

static uint64_t rc_map_faults(int i) {
    return __atomic_load_n(&rc_maps[i].faults, __ATOMIC_ACQUIRE);
}

static uint64_t rc_map_first_fault(int i) {
    return __atomic_load_n(&rc_maps[i].first_fault, __ATOMIC_ACQUIRE);
}

static int rc_live_maps(void) {
    int n = 0;
    for (int i = 0; i < rc_slots_used; i++)
        n += __atomic_load_n(&rc_maps[i].start, __ATOMIC_RELAXED) != 0;
    return n;
}
#endif

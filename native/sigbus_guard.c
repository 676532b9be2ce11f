/* A guard for reading mappings of files that may shrink under them (a live guest's RAM file, a
 * dump being rewritten): touching a page past the new end of file raises SIGBUS, which would
 * kill the whole process. Code that reads such a mapping runs under hv_guarded_call (or copies
 * with hv_guarded_memcpy); a SIGBUS on that thread while it is armed jumps back and the call
 * returns -EFAULT. Any other SIGBUS goes to the handler that was there before (default: die).
 *
 * The guarded code must not take locks or allocate: it is abandoned midway. The jump saves no
 * signal mask (sigsetjmp(.., 0): no system call per guarded call); the handler is installed
 * with SA_NODEFER so SIGBUS is not left blocked after the jump. */
#include "hvkit.h"
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

static __thread sigjmp_buf *armed;

/* Mappings read by code that cannot be guarded (JavaScript reading a shared guest RAM mapping
 * through a Uint8Array, native DMA copies): a SIGBUS inside one is answered by putting an
 * anonymous zero page over the faulting page and returning, so the access completes (reads see
 * zeroes, writes go nowhere) and the mapping's `shrunk` word turns 1 for its owner to see. A
 * raw mmap in a signal handler is not on POSIX's async-signal-safe list; on Linux it is one
 * system call (the JVM relies on the same). */
#define PATCH_SLOTS 64
static struct {
    uintptr_t start, end; /* [start, end); end == 0: free */
    int32_t shrunk;
} patch[PATCH_SLOTS];
static pthread_mutex_t patch_lock = PTHREAD_MUTEX_INITIALIZER;

static int patch_fault(void *addr)
{
    uintptr_t a = (uintptr_t)addr;
    for (int i = 0; i < PATCH_SLOTS; i++) {
        uintptr_t start = __atomic_load_n(&patch[i].start, __ATOMIC_ACQUIRE);
        uintptr_t end = __atomic_load_n(&patch[i].end, __ATOMIC_ACQUIRE);
        if (end == 0 || a < start || a >= end)
            continue;
        uintptr_t page = a & ~(uintptr_t)4095;
        void *p = mmap((void *)page, 4096, PROT_READ | PROT_WRITE,
                       MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 0;
        __atomic_store_n(&patch[i].shrunk, 1, __ATOMIC_RELEASE);
        return 1;
    }
    return 0;
}
static struct sigaction previous;
static pthread_once_t installed = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    sigjmp_buf *j = armed;
    if (j) {
        armed = NULL;
        siglongjmp(*j, 1);
    }
    if (si && patch_fault(si->si_addr))
        return;
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
        previous.sa_sigaction(sig, si, uc);
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
    } else {
        signal(SIGBUS, SIG_DFL); /* not ours: die as without the guard */
        raise(SIGBUS);
    }
}

static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &previous);
}

int hv_guarded_call(void (*fn)(void *), void *arg)
{
    pthread_once(&installed, install);
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0)) {
        armed = NULL;
        return -EFAULT;
    }
    armed = &jb;
    fn(arg);
    armed = NULL;
    return 0;
}

struct copy_args {
    void *dst;
    const void *src;
    size_t n;
};

static void copy(void *a)
{
    struct copy_args *c = a;
    memcpy(c->dst, c->src, c->n);
}

int hv_guarded_memcpy(void *dst, const void *src, size_t n)
{
    struct copy_args c = {dst, src, n};
    return hv_guarded_call(copy, &c);
}

int32_t *hv_sigbus_patch_register(uint64_t addr, uint64_t len)
{
    pthread_once(&installed, install);
    pthread_mutex_lock(&patch_lock);
    int32_t *word = NULL;
    for (int i = 0; i < PATCH_SLOTS; i++) {
        if (__atomic_load_n(&patch[i].end, __ATOMIC_ACQUIRE) == 0) {
            patch[i].shrunk = 0;
            __atomic_store_n(&patch[i].start, (uintptr_t)addr, __ATOMIC_RELEASE);
            __atomic_store_n(&patch[i].end, (uintptr_t)(addr + len), __ATOMIC_RELEASE);
            word = &patch[i].shrunk;
            break;
        }
    }
    pthread_mutex_unlock(&patch_lock);
    return word;
}

void hv_sigbus_patch_unregister(uint64_t addr)
{
    pthread_mutex_lock(&patch_lock);
    for (int i = 0; i < PATCH_SLOTS; i++) {
        if (__atomic_load_n(&patch[i].end, __ATOMIC_ACQUIRE) != 0 && patch[i].start == (uintptr_t)addr)
            __atomic_store_n(&patch[i].end, 0, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&patch_lock);
}

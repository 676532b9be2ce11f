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

static __thread sigjmp_buf *armed;
static struct sigaction previous;
static pthread_once_t installed = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    sigjmp_buf *j = armed;
    if (j) {
        armed = NULL;
        siglongjmp(*j, 1);
    }
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

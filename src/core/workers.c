/* The worker pool: N pthreads taking jobs from a bounded FIFO ring. A full queue fails the
 * submit at once (the caller decides: retry later, answer 503) rather than blocking an HTTP
 * thread. workers_free lets the queue drain before joining, so accepted work is never lost. */
#include "core/workers.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>

struct job {
    worker_fn fn;
    void *arg;
};

struct worker_pool {
    pthread_mutex_t lock;
    pthread_cond_t ready; /* signalled when a job is queued or the pool starts stopping */
    struct job *ring;
    size_t cap, head, count;
    int stopping;
    pthread_t *threads;
    int nthreads; /* threads actually started */
};

static void *worker_main(void *arg);
static void pool_stop_and_join(worker_pool *p);

static void *worker_main(void *arg)
{
    worker_pool *p = arg;
    for (;;) {
        if (pthread_mutex_lock(&p->lock) != 0)
            return NULL;
        while (p->count == 0 && !p->stopping)
            if (pthread_cond_wait(&p->ready, &p->lock) != 0)
                break;
        if (p->count == 0) { /* stopping and drained */
            (void)pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        struct job j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        (void)pthread_mutex_unlock(&p->lock);
        j.fn(j.arg);
    }
}

worker_pool *workers_new(int threads, size_t max_queue)
{
    if (threads < 1 || max_queue < 1 || max_queue > SIZE_MAX / sizeof(struct job))
        return NULL;
    worker_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->ring = calloc(max_queue, sizeof(*p->ring));
    p->threads = calloc((size_t)threads, sizeof(*p->threads));
    if (!p->ring || !p->threads)
        goto fail_alloc;
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        goto fail_alloc;
    if (pthread_cond_init(&p->ready, NULL) != 0) {
        (void)pthread_mutex_destroy(&p->lock);
        goto fail_alloc;
    }
    p->cap = max_queue;

    /* Workers block every signal so SIGTERM/SIGINT reach the thread that handles shutdown;
     * a new thread inherits the creating thread's mask. */
    sigset_t all, old;
    (void)sigfillset(&all);
    int masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
            break;
        p->nthreads++;
    }
    if (masked)
        (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p->nthreads < threads) {
        workers_free(p);
        return NULL;
    }
    return p;

fail_alloc:
    free(p->ring);
    free(p->threads);
    free(p);
    return NULL;
}

int workers_submit(worker_pool *p, worker_fn fn, void *arg)
{
    if (!p || !fn)
        return -1;
    if (pthread_mutex_lock(&p->lock) != 0)
        return -1;
    int rc = -1;
    if (!p->stopping && p->count < p->cap) {
        p->ring[(p->head + p->count) % p->cap] = (struct job){fn, arg};
        p->count++;
        rc = pthread_cond_signal(&p->ready) == 0 ? 0 : -1;
        if (rc) /* nobody would wake up for it: take it back */
            p->count--;
    }
    (void)pthread_mutex_unlock(&p->lock);
    return rc;
}

static void pool_stop_and_join(worker_pool *p)
{
    if (pthread_mutex_lock(&p->lock) == 0) {
        p->stopping = 1;
        (void)pthread_cond_broadcast(&p->ready);
        (void)pthread_mutex_unlock(&p->lock);
    }
    for (int i = 0; i < p->nthreads; i++)
        (void)pthread_join(p->threads[i], NULL);
}

void workers_free(worker_pool *p)
{
    if (!p)
        return;
    pool_stop_and_join(p);
    (void)pthread_cond_destroy(&p->ready);
    (void)pthread_mutex_destroy(&p->lock);
    free(p->ring);
    free(p->threads);
    free(p);
}

size_t workers_queued(worker_pool *p)
{
    if (!p || pthread_mutex_lock(&p->lock) != 0)
        return 0;
    size_t n = p->count;
    (void)pthread_mutex_unlock(&p->lock);
    return n;
}

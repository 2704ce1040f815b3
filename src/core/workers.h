/* A fixed pool of worker threads running queued jobs (outbox sending, scoring, STT later).
 * Jobs never run on HTTP threads. The queue is bounded: submitting to a full queue fails. */
#ifndef PRAXIS_CORE_WORKERS_H
#define PRAXIS_CORE_WORKERS_H

#include "core/common.h"

typedef struct worker_pool worker_pool;
typedef void (*worker_fn)(void *arg);

/* NULL on failure. threads >= 1, max_queue >= 1. */
worker_pool *workers_new(int threads, size_t max_queue);
/* -1 when the queue is full or the pool is stopping. */
int workers_submit(worker_pool *p, worker_fn fn, void *arg) WUR;
/* Stops taking jobs, runs what is queued, joins the threads, frees the pool. */
void workers_free(worker_pool *p);
size_t workers_queued(worker_pool *p);

#endif

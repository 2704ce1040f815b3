/* The transactional outbox: work that must happen after a commit (send an email, score a
 * session) is written as a row in the same transaction as the change that causes it, and a
 * dispatcher thread runs it afterwards with retries and backoff. A crash between commit and
 * sending loses nothing; a job runs at least once, and exactly once unless the process dies
 * between running it and recording that it ran. */
#ifndef PRAXIS_EVENTS_OUTBOX_H
#define PRAXIS_EVENTS_OUTBOX_H

#include "core/common.h"
#include "store/db.h"
#include <jansson.h>

/* Queues a job inside the caller's transaction (c must be in db_begin). dedupe_key may be NULL;
 * a second job with the same key is silently not queued. payload is borrowed. */
int outbox_enqueue(db_conn *c, const char *topic, const json_t *payload, const char *dedupe_key)
    WUR;

/* A handler runs one job; 0 = done, non-zero = failed (err says why, for last_error). */
typedef int (*outbox_handler_fn)(const char *topic, const json_t *payload, void *ud, char *err,
                                 size_t errlen);

typedef struct outbox_dispatcher outbox_dispatcher;

typedef struct outbox_options {
    int poll_ms;          /* how often to look for due jobs (default 200) */
    int max_attempts;     /* then status 'failed' (default 8) */
    int base_backoff_ms;  /* retry n waits base * 2^(n-1), capped at 1 h, +-20% jitter (default 1000) */
    int lease_ms;         /* a claimed job is retried by anyone after this (default 60000) */
} outbox_options;

/* Starts the dispatcher thread. Handlers are looked up by exact topic. */
outbox_dispatcher *outbox_dispatcher_new(db *d, const outbox_options *opts);
int outbox_register(outbox_dispatcher *o, const char *topic, outbox_handler_fn fn, void *ud) WUR;
int outbox_dispatcher_start(outbox_dispatcher *o) WUR;
/* Wakes the dispatcher now (after a commit that queued a job) instead of at the next poll. */
void outbox_kick(outbox_dispatcher *o);
/* Stops the thread (finishing the job in hand) and frees. */
void outbox_dispatcher_free(outbox_dispatcher *o);
/* Runs every due job once on the calling thread; returns how many ran (tests, CLI). */
int outbox_run_due(outbox_dispatcher *o);

#endif

/* Tests for the worker pool: every accepted job runs, a full queue refuses work instead of
 * blocking, jobs start in submission order, and freeing the pool runs what is still queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/workers.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* A gate jobs can wait on, so tests control when the workers are busy. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open;
static int blocker_started;

static int ran;
static int order[256];
static int norder;

/* cmocka's asserts longjmp to the test's thread: job code running on a worker aborts instead. */
static void check(int ok)
{
    if (!ok)
        abort();
}

static void reset_state(void)
{
    gate_open = 0;
    blocker_started = 0;
    ran = 0;
    norder = 0;
}

static void blocker(void *arg)
{
    (void)arg;
    check(pthread_mutex_lock(&gate_lock) == 0);
    blocker_started = 1;
    check(pthread_cond_broadcast(&gate_cond) == 0);
    while (!gate_open)
        check(pthread_cond_wait(&gate_cond, &gate_lock) == 0);
    ran++;
    check(pthread_mutex_unlock(&gate_lock) == 0);
}

static void wait_blocker_started(void)
{
    assert_int_equal(pthread_mutex_lock(&gate_lock), 0);
    while (!blocker_started)
        assert_int_equal(pthread_cond_wait(&gate_cond, &gate_lock), 0);
    assert_int_equal(pthread_mutex_unlock(&gate_lock), 0);
}

static void open_gate(void)
{
    assert_int_equal(pthread_mutex_lock(&gate_lock), 0);
    gate_open = 1;
    assert_int_equal(pthread_cond_broadcast(&gate_cond), 0);
    assert_int_equal(pthread_mutex_unlock(&gate_lock), 0);
}

static void record(void *arg)
{
    check(pthread_mutex_lock(&gate_lock) == 0);
    ran++;
    if (norder < (int)(sizeof(order) / sizeof(order[0])))
        order[norder++] = (int)(intptr_t)arg;
    check(pthread_mutex_unlock(&gate_lock) == 0);
}

static void slow_record(void *arg)
{
    struct timespec ts = {0, 1000000}; /* 1 ms */
    (void)nanosleep(&ts, NULL);
    record(arg);
}

static void test_all_jobs_run(void **state)
{
    (void)state;
    reset_state();
    worker_pool *p = workers_new(4, 2000);
    assert_non_null(p);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(workers_submit(p, record, (void *)(intptr_t)i), 0);
    workers_free(p);
    assert_int_equal(ran, 2000);
}

static void test_full_queue_rejects(void **state)
{
    (void)state;
    reset_state();
    worker_pool *p = workers_new(1, 2);
    assert_non_null(p);
    assert_int_equal(workers_submit(p, blocker, NULL), 0);
    wait_blocker_started(); /* the only worker is busy and the queue is empty */
    assert_int_equal(workers_queued(p), 0);
    assert_int_equal(workers_submit(p, record, (void *)1), 0);
    assert_int_equal(workers_submit(p, record, (void *)2), 0);
    assert_int_equal(workers_queued(p), 2);
    assert_int_equal(workers_submit(p, record, (void *)3), -1);
    assert_int_equal(workers_queued(p), 2);
    open_gate();
    workers_free(p);
    assert_int_equal(ran, 3); /* blocker + the two accepted jobs, not the refused one */
}

static void test_jobs_start_in_submission_order(void **state)
{
    (void)state;
    reset_state();
    worker_pool *p = workers_new(1, 100);
    assert_non_null(p);
    assert_int_equal(workers_submit(p, blocker, NULL), 0);
    wait_blocker_started();
    for (int i = 0; i < 100; i++)
        assert_int_equal(workers_submit(p, record, (void *)(intptr_t)i), 0);
    open_gate();
    workers_free(p);
    assert_int_equal(norder, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(order[i], i);
}

static void test_free_drains_the_queue(void **state)
{
    (void)state;
    reset_state();
    worker_pool *p = workers_new(2, 64);
    assert_non_null(p);
    assert_int_equal(workers_submit(p, blocker, NULL), 0);
    wait_blocker_started();
    for (int i = 0; i < 50; i++)
        assert_int_equal(workers_submit(p, slow_record, (void *)(intptr_t)i), 0);
    open_gate();
    /* Freed while most jobs are still queued: they all run before the threads are joined. */
    workers_free(p);
    assert_int_equal(ran, 51);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    assert_null(workers_new(0, 10));
    assert_null(workers_new(-1, 10));
    assert_null(workers_new(1, 0));
    assert_int_equal(workers_submit(NULL, record, NULL), -1);
    worker_pool *p = workers_new(1, 1);
    assert_non_null(p);
    assert_int_equal(workers_submit(p, NULL, NULL), -1);
    assert_int_equal(workers_queued(NULL), 0);
    workers_free(p);
    workers_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_jobs_run),
        cmocka_unit_test(test_full_queue_rejects),
        cmocka_unit_test(test_jobs_start_in_submission_order),
        cmocka_unit_test(test_free_drains_the_queue),
        cmocka_unit_test(test_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

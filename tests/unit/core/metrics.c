/* Tests for the metrics registry: the exact exposition text for counters, gauges and
 * histograms, label and HELP escaping, number formatting, registration rules, concurrent
 * updates, and the process metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static int reset(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

static char *render(void)
{
    buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_render(&b), 0);
    return buf_detach(&b, NULL);
}

static void expect_render(const char *expected)
{
    char *text = render();
    assert_string_equal(text, expected);
    free(text);
}

/* The value of the sample whose line starts with prefix (name plus labels, then a space). */
static double sample_value(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    fail_msg("no sample %s in:\n%s", prefix, text);
    return NAN;
}

static void test_counter_with_labels(void **state)
{
    (void)state;
    static const char *const labels[] = {"method", "status", NULL};
    metric_family *c = metrics_counter("http_requests_total", "Requests handled.", labels);
    assert_non_null(c);
    const char *const get200[] = {"GET", "200"};
    const char *const post201[] = {"POST", "201"};
    metrics_inc(c, get200, 1);
    metrics_inc(c, post201, 1);
    metrics_inc(c, get200, 2);
    metrics_inc(c, get200, -5); /* counters never go down */
    expect_render("# HELP http_requests_total Requests handled.\n"
                  "# TYPE http_requests_total counter\n"
                  "http_requests_total{method=\"GET\",status=\"200\"} 3\n"
                  "http_requests_total{method=\"POST\",status=\"201\"} 1\n");
}

static void test_histogram(void **state)
{
    (void)state;
    static const char *const labels[] = {"route", NULL};
    static const double bounds[] = {0.25, 0.5, 1};
    metric_family *h =
        metrics_histogram("req_seconds", "Request duration.", labels, bounds, ARRAY_LEN(bounds));
    assert_non_null(h);
    const char *const r[] = {"/v1/x"};
    metrics_observe(h, r, 0.25); /* bounds are inclusive */
    metrics_observe(h, r, 0.5);
    metrics_observe(h, r, 0.5);
    metrics_observe(h, r, 2);
    metrics_observe(h, r, NAN); /* dropped */
    expect_render("# HELP req_seconds Request duration.\n"
                  "# TYPE req_seconds histogram\n"
                  "req_seconds_bucket{route=\"/v1/x\",le=\"0.25\"} 1\n"
                  "req_seconds_bucket{route=\"/v1/x\",le=\"0.5\"} 3\n"
                  "req_seconds_bucket{route=\"/v1/x\",le=\"1\"} 3\n"
                  "req_seconds_bucket{route=\"/v1/x\",le=\"+Inf\"} 4\n"
                  "req_seconds_sum{route=\"/v1/x\"} 3.25\n"
                  "req_seconds_count{route=\"/v1/x\"} 4\n");
}

static void test_histogram_without_labels_and_default_buckets(void **state)
{
    (void)state;
    metric_family *h = metrics_histogram("lat_seconds", "", NULL, NULL, 0);
    assert_non_null(h);
    metrics_observe(h, NULL, 0.003);
    char *text = render();
    assert_non_null(strstr(text, "# TYPE lat_seconds histogram\n"
                                 "lat_seconds_bucket{le=\"0.005\"} 1\n"
                                 "lat_seconds_bucket{le=\"0.01\"} 1\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"10\"} 1\n"
                                 "lat_seconds_bucket{le=\"+Inf\"} 1\n"
                                 "lat_seconds_sum 0.003\n"
                                 "lat_seconds_count 1\n"));
    assert_null(strstr(text, "# HELP")); /* no help, no HELP line */
    free(text);
}

static void test_label_and_help_escaping(void **state)
{
    (void)state;
    static const char *const labels[] = {"path", NULL};
    metric_family *g = metrics_gauge("odd", "Help with \\ and\nnewline and \"quotes\".", labels);
    assert_non_null(g);
    const char *const v[] = {"a\\b\"c\nd"};
    metrics_set(g, v, 1);
    expect_render("# HELP odd Help with \\\\ and\\nnewline and \"quotes\".\n"
                  "# TYPE odd gauge\n"
                  "odd{path=\"a\\\\b\\\"c\\nd\"} 1\n");
}

static void test_number_formatting(void **state)
{
    (void)state;
    static const char *const labels[] = {"case", NULL};
    metric_family *g = metrics_gauge("num", "n", labels);
    static const struct {
        const char *label;
        double value;
    } cases[] = {
        {"zero", 0.0},
        {"negzero", -0.0},
        {"int", 42},
        {"big", 1e15},
        {"huge", 1e20},
        {"neg", -3},
        {"tenth", 0.1},
        {"third", 1.0 / 3.0},
        {"small", 1e-7},
        {"nan", NAN},
        {"inf", INFINITY},
        {"ninf", -INFINITY},
        {"max_exact", 9007199254740992.0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *const v[] = {cases[i].label};
        metrics_set(g, v, cases[i].value);
    }
    expect_render("# HELP num n\n"
                  "# TYPE num gauge\n"
                  "num{case=\"zero\"} 0\n"
                  "num{case=\"negzero\"} 0\n"
                  "num{case=\"int\"} 42\n"
                  "num{case=\"big\"} 1000000000000000\n"
                  "num{case=\"huge\"} 1e+20\n"
                  "num{case=\"neg\"} -3\n"
                  "num{case=\"tenth\"} 0.1\n"
                  "num{case=\"third\"} 0.3333333333333333\n"
                  "num{case=\"small\"} 1e-07\n"
                  "num{case=\"nan\"} NaN\n"
                  "num{case=\"inf\"} +Inf\n"
                  "num{case=\"ninf\"} -Inf\n"
                  "num{case=\"max_exact\"} 9007199254740992\n");
}

static void test_gauges_and_registration_rules(void **state)
{
    (void)state;
    metric_family *g = metrics_gauge("sessions_active", "Active sessions.", NULL);
    assert_non_null(g);
    /* A family without labels shows its single sample from the start. */
    expect_render("# HELP sessions_active Active sessions.\n"
                  "# TYPE sessions_active gauge\n"
                  "sessions_active 0\n");
    metrics_inc(g, NULL, 3);
    metrics_inc(g, NULL, -1); /* gauges go both ways */
    char *text = render();
    assert_int_equal(sample_value(text, "sessions_active"), 2);
    free(text);

    /* Registering again by name returns the same family; a clash of type or labels does not. */
    assert_ptr_equal(metrics_gauge("sessions_active", "Other help.", NULL), g);
    FILE *logf = tmpfile(); /* the clash is logged: keep it out of the test output */
    assert_non_null(logf);
    log_init(LOG_INFO, logf);
    assert_null(metrics_counter("sessions_active", "x", NULL));
    static const char *const labels[] = {"x", NULL};
    assert_null(metrics_gauge("sessions_active", "x", labels));
    log_init(LOG_INFO, NULL);
    assert_true(ftell(logf) > 0);
    assert_int_equal(fclose(logf), 0);

    /* Invalid names. */
    assert_null(metrics_counter("", "x", NULL));
    assert_null(metrics_counter("9lives", "x", NULL));
    assert_null(metrics_counter("with-dash", "x", NULL));
    static const char *const bad_label[] = {"bad-label", NULL};
    assert_null(metrics_counter("ok_name", "x", bad_label));
    static const char *const reserved[] = {"__name", NULL};
    assert_null(metrics_counter("ok_name", "x", reserved));
    static const char *const le[] = {"le", NULL};
    assert_null(metrics_histogram("ok_hist", "x", le, NULL, 0));
    static const double unordered[] = {1, 0.5};
    assert_null(metrics_histogram("ok_hist", "x", NULL, unordered, 2));
    assert_non_null(metrics_counter("name:with:colons_total", "x", NULL));

    /* NULL families (a failed registration) are ignored by updates. */
    metrics_inc(NULL, NULL, 1);
    metrics_set(NULL, NULL, 1);
    metrics_observe(NULL, NULL, 1);
}

enum { THREADS = 8, PER_THREAD = 20000 };
static metric_family *conc_counter, *conc_hist;

static void *hammer(void *arg)
{
    const char *const mine[] = {((uintptr_t)arg % 2) ? "odd" : "even"};
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_inc(conc_counter, mine, 1);
        metrics_observe(conc_hist, NULL, (i % 4) * 0.5);
    }
    return NULL;
}

static void test_concurrent_updates_sum_correctly(void **state)
{
    (void)state;
    static const char *const labels[] = {"kind", NULL};
    static const double bounds[] = {0.5, 1};
    conc_counter = metrics_counter("work_total", "Work.", labels);
    conc_hist = metrics_histogram("work_seconds", "Work time.", NULL, bounds, 2);
    pthread_t th[THREADS];
    for (uintptr_t t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, hammer, (void *)t), 0);
    /* Rendering while writers run must be safe too. */
    for (int i = 0; i < 20; i++)
        free(render());
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    char *text = render();
    assert_int_equal(sample_value(text, "work_total{kind=\"even\"}"), THREADS / 2 * PER_THREAD);
    assert_int_equal(sample_value(text, "work_total{kind=\"odd\"}"), THREADS / 2 * PER_THREAD);
    int total = THREADS * PER_THREAD;
    /* values cycle 0, 0.5, 1, 1.5 */
    assert_int_equal(sample_value(text, "work_seconds_bucket{le=\"0.5\"}"), total / 2);
    assert_int_equal(sample_value(text, "work_seconds_bucket{le=\"1\"}"), total / 4 * 3);
    assert_int_equal(sample_value(text, "work_seconds_bucket{le=\"+Inf\"}"), total);
    assert_int_equal(sample_value(text, "work_seconds_count"), total);
    assert_true(sample_value(text, "work_seconds_sum") == total / 4 * 3.0);
    free(text);
}

static void test_many_series_grow_the_table(void **state)
{
    (void)state;
    static const char *const labels[] = {"id", NULL};
    metric_family *c = metrics_counter("items_total", "Items.", labels);
    char id[16];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 1000; i++) {
            (void)snprintf(id, sizeof(id), "%d", i);
            const char *const v[] = {id};
            metrics_inc(c, v, 1);
        }
    }
    char *text = render();
    assert_int_equal(sample_value(text, "items_total{id=\"0\"}"), 2);
    assert_int_equal(sample_value(text, "items_total{id=\"999\"}"), 2);
    /* creation order is kept */
    assert_true(strstr(text, "{id=\"1\"}") < strstr(text, "{id=\"2\"}"));
    free(text);
}

static int collected;
static void collect_cb(void *ud)
{
    collected++;
    metrics_set(ud, NULL, collected);
}

static void test_collect_callbacks_run_before_render(void **state)
{
    (void)state;
    collected = 0;
    metric_family *g = metrics_gauge("on_demand", "Computed at scrape.", NULL);
    metrics_on_collect(collect_cb, g);
    char *a = render();
    char *b = render();
    assert_int_equal(sample_value(a, "on_demand"), 1);
    assert_int_equal(sample_value(b, "on_demand"), 2);
    free(a);
    free(b);
}

static void test_process_metrics(void **state)
{
    (void)state;
    metrics_register_process();
    metrics_register_process(); /* idempotent: no duplicate collectors or families */
    char *text = render();
    assert_true(sample_value(text, "process_resident_memory_bytes") > 1024 * 1024);
    assert_true(sample_value(text, "process_open_fds") >= 3);
    double start = sample_value(text, "process_start_time_seconds");
    double now = (double)time_now_ms() / 1000.0;
    assert_true(start <= now + 1 && start > now - 86400);
    assert_true(sample_value(text, "praxis_uptime_seconds") >= 0);
    assert_int_equal(sample_value(text, "praxis_build_info{version=\"" PRAXIS_VERSION "\"}"), 1);
    /* each family appears once */
    const char *first = strstr(text, "# TYPE process_open_fds gauge");
    assert_non_null(first);
    assert_null(strstr(first + 1, "# TYPE process_open_fds gauge"));
    free(text);
}

static void test_render_fails_cleanly_when_output_cap_is_small(void **state)
{
    (void)state;
    metric_family *g = metrics_gauge("some_gauge", "Some help text.", NULL);
    assert_non_null(g);
    buf b;
    buf_init(&b, 10);
    assert_int_equal(metrics_render(&b), BUF_TOO_BIG);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_counter_with_labels, reset),
        cmocka_unit_test_teardown(test_histogram, reset),
        cmocka_unit_test_teardown(test_histogram_without_labels_and_default_buckets, reset),
        cmocka_unit_test_teardown(test_label_and_help_escaping, reset),
        cmocka_unit_test_teardown(test_number_formatting, reset),
        cmocka_unit_test_teardown(test_gauges_and_registration_rules, reset),
        cmocka_unit_test_teardown(test_concurrent_updates_sum_correctly, reset),
        cmocka_unit_test_teardown(test_many_series_grow_the_table, reset),
        cmocka_unit_test_teardown(test_collect_callbacks_run_before_render, reset),
        cmocka_unit_test_teardown(test_process_metrics, reset),
        cmocka_unit_test_teardown(test_render_fails_cleanly_when_output_cap_is_small, reset),
    };
    return cmocka_run_group_tests(tests, reset, reset);
}

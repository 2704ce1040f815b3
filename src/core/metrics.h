/* The metrics registry (a documented singleton): counters, gauges and histograms with labels,
 * rendered in the Prometheus text exposition format 0.0.4. Thread-safe. */
#ifndef PRAXIS_CORE_METRICS_H
#define PRAXIS_CORE_METRICS_H

#include "core/buf.h"
#include "core/common.h"

typedef struct metric_family metric_family;

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

/* Families are registered once (idempotent by name) and live for the process. label_names is
 * a NULL-terminated list (may be NULL). buckets: upper bounds, ascending (histograms only). */
metric_family *metrics_counter(const char *name, const char *help, const char *const *label_names);
metric_family *metrics_gauge(const char *name, const char *help, const char *const *label_names);
metric_family *metrics_histogram(const char *name, const char *help,
                                 const char *const *label_names, const double *buckets,
                                 size_t nbuckets);

/* label_values: as many as the family has label names (NULL when it has none). */
void metrics_inc(metric_family *f, const char *const *label_values, double by);
void metrics_set(metric_family *f, const char *const *label_values, double value);
void metrics_observe(metric_family *f, const char *const *label_values, double value);

/* Callback run before each render so gauges computed on demand (RSS, fds) are fresh. */
typedef void (*metrics_collect_fn)(void *ud);
void metrics_on_collect(metrics_collect_fn fn, void *ud);

/* Renders every family into out. */
int metrics_render(buf *out) WUR;

/* Registers process_resident_memory_bytes, process_open_fds, process_start_time_seconds,
 * praxis_uptime_seconds and praxis_build_info. */
void metrics_register_process(void);

/* Frees everything (end of process, tests). */
void metrics_reset(void);

#endif

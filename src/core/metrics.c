/* The metrics registry (a documented singleton) and its Prometheus text exposition (0.0.4).
 * A registry lock guards the list of families and collectors; each family has its own lock
 * and a hash of label values -> series, so hot-path increments on different families never
 * contend. Series render in creation order, families in registration order. */
#include "core/metrics.h"

#include "core/log.h"
#include "core/timeutil.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct series {
    struct series *hnext; /* hash chain */
    struct series *next;  /* creation order */
    uint64_t hash;
    const char **values; /* points into the same allocation */
    double value;        /* counters and gauges */
    uint64_t *buckets;   /* histograms: per-bucket (not cumulative) counts */
    double sum;
    uint64_t count;
};

struct metric_family {
    struct metric_family *next;
    char *name;
    char *help;
    metric_type type;
    char **label_names;
    size_t nlabels;
    double *bounds; /* histogram upper bounds, ascending, +Inf excluded */
    size_t nbounds;
    pthread_mutex_t lock;
    struct series **table;
    size_t table_size;
    size_t nseries;
    struct series *first, *last;
};

struct collector {
    metrics_collect_fn fn;
    void *ud;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static metric_family *reg_first, *reg_last;
static struct collector *reg_collectors;
static size_t reg_ncollectors;
static int reg_process_done;

/* Process metrics: the families the collector refreshes and when the process started. */
static struct {
    metric_family *rss, *fds, *start, *uptime;
    double start_time;
    int64_t start_mono_ns;
} proc;

/* The Prometheus client defaults, for histograms registered without buckets. */
static const double default_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static int valid_name(const char *s, int allow_colon);
static metric_family *family_register(metric_type type, const char *name, const char *help,
                                      const char *const *label_names, const double *bounds,
                                      size_t nbounds);
static metric_family *family_new(metric_type type, const char *name, const char *help,
                                 const char *const *label_names, const double *bounds,
                                 size_t nbounds);
static int family_same_shape(const metric_family *f, metric_type type,
                             const char *const *label_names);
static void family_free(metric_family *f);
static uint64_t hash_values(const char *const *values, size_t n);
static struct series *series_get(metric_family *f, const char *const *values);
static struct series *series_new(metric_family *f, const char *const *values, uint64_t hash);
static int table_grow(metric_family *f);
static const char *label_value(const char *const *values, size_t i);
static void format_number(double v, char out[32]);
static int render_family(buf *out, metric_family *f);
static int render_labels(buf *out, const metric_family *f, const struct series *s, const char *le);
static int render_escaped(buf *out, const char *s, int quote);
static void process_collect(void *ud);
static double read_rss_bytes(void);
static double count_open_fds(void);

/* Metric names may contain ':' (recording rules); label names may not. */
static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (p != s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static const char *label_value(const char *const *values, size_t i)
{
    return values && values[i] ? values[i] : "";
}

/* FNV-1a over the values with a separator byte that cannot occur inside a C string. */
static uint64_t hash_values(const char *const *values, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)label_value(values, i); *p; p++) {
            h ^= *p;
            h *= 1099511628211ull;
        }
        h ^= 0xFF;
        h *= 1099511628211ull;
    }
    return h;
}

static int family_same_shape(const metric_family *f, metric_type type,
                             const char *const *label_names)
{
    if (f->type != type)
        return 0;
    size_t n = 0;
    while (label_names && label_names[n])
        n++;
    if (n != f->nlabels)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(f->label_names[i], label_names[i]) != 0)
            return 0;
    return 1;
}

static metric_family *family_new(metric_type type, const char *name, const char *help,
                                 const char *const *label_names, const double *bounds,
                                 size_t nbounds)
{
    metric_family *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    while (label_names && label_names[f->nlabels])
        f->nlabels++;
    f->label_names = calloc(f->nlabels + 1, sizeof(char *));
    f->table_size = 16;
    f->table = calloc(f->table_size, sizeof(*f->table));
    if (!f->name || !f->help || !f->label_names || !f->table)
        goto fail;
    for (size_t i = 0; i < f->nlabels; i++)
        if (!(f->label_names[i] = strdup(label_names[i])))
            goto fail;
    if (type == METRIC_HISTOGRAM) {
        f->bounds = calloc(nbounds ? nbounds : 1, sizeof(double));
        if (!f->bounds)
            goto fail;
        for (size_t i = 0; i < nbounds; i++)
            if (!(isinf(bounds[i]) && bounds[i] > 0)) /* +Inf is always added at render */
                f->bounds[f->nbounds++] = bounds[i];
    }
    if (pthread_mutex_init(&f->lock, NULL) != 0)
        goto fail;
    return f;
fail:
    free(f->name);
    free(f->help);
    for (size_t i = 0; f->label_names && i < f->nlabels; i++)
        free(f->label_names[i]);
    free(f->label_names);
    free(f->bounds);
    free(f->table);
    free(f);
    return NULL;
}

static void family_free(metric_family *f)
{
    struct series *s = f->first;
    while (s) {
        struct series *next = s->next;
        free(s->buckets);
        free(s);
        s = next;
    }
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->label_names[i]);
    free(f->label_names);
    free(f->bounds);
    free(f->table);
    free(f->name);
    free(f->help);
    (void)pthread_mutex_destroy(&f->lock);
    free(f);
}

static metric_family *family_register(metric_type type, const char *name, const char *help,
                                      const char *const *label_names, const double *bounds,
                                      size_t nbounds)
{
    if (!valid_name(name, 1))
        return NULL;
    for (size_t i = 0; label_names && label_names[i]; i++) {
        /* "__" is reserved by Prometheus; "le" is the bucket label of histograms. */
        if (!valid_name(label_names[i], 0) || strncmp(label_names[i], "__", 2) == 0 ||
            (type == METRIC_HISTOGRAM && strcmp(label_names[i], "le") == 0))
            return NULL;
    }
    if (type == METRIC_HISTOGRAM) {
        if (!bounds || nbounds == 0) {
            bounds = default_bounds;
            nbounds = ARRAY_LEN(default_bounds);
        }
        for (size_t i = 0; i < nbounds; i++)
            if (isnan(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
                return NULL;
    }
    if (pthread_mutex_lock(&reg_lock) != 0)
        return NULL;
    metric_family *f;
    for (f = reg_first; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (f) {
        if (!family_same_shape(f, type, label_names)) {
            log_error("metrics: %s registered again with another type or labels", name);
            f = NULL;
        }
        (void)pthread_mutex_unlock(&reg_lock);
        return f;
    }
    f = family_new(type, name, help, label_names, bounds, nbounds);
    if (f) {
        if (reg_last)
            reg_last->next = f;
        else
            reg_first = f;
        reg_last = f;
        /* A family without labels has exactly one series: show it (at 0) from the start. */
        if (f->nlabels == 0 && pthread_mutex_lock(&f->lock) == 0) {
            (void)series_get(f, NULL);
            (void)pthread_mutex_unlock(&f->lock);
        }
    }
    (void)pthread_mutex_unlock(&reg_lock);
    return f;
}

metric_family *metrics_counter(const char *name, const char *help, const char *const *label_names)
{
    return family_register(METRIC_COUNTER, name, help, label_names, NULL, 0);
}

metric_family *metrics_gauge(const char *name, const char *help, const char *const *label_names)
{
    return family_register(METRIC_GAUGE, name, help, label_names, NULL, 0);
}

metric_family *metrics_histogram(const char *name, const char *help, const char *const *label_names,
                                 const double *buckets, size_t nbuckets)
{
    return family_register(METRIC_HISTOGRAM, name, help, label_names, buckets, nbuckets);
}

static int table_grow(metric_family *f)
{
    if (f->table_size > SIZE_MAX / 2 / sizeof(*f->table))
        return -1;
    size_t size = f->table_size * 2;
    struct series **table = calloc(size, sizeof(*table));
    if (!table)
        return -1;
    for (struct series *s = f->first; s; s = s->next) {
        size_t slot = (size_t)(s->hash % size);
        s->hnext = table[slot];
        table[slot] = s;
    }
    free(f->table);
    f->table = table;
    f->table_size = size;
    return 0;
}

/* One allocation holds the series, its value pointers and the value strings. */
static struct series *series_new(metric_family *f, const char *const *values, uint64_t hash)
{
    size_t strings = 0;
    for (size_t i = 0; i < f->nlabels; i++) {
        size_t n = strlen(label_value(values, i)) + 1;
        if (n > SIZE_MAX / 2 - strings)
            return NULL;
        strings += n;
    }
    size_t head = sizeof(struct series) + f->nlabels * sizeof(char *);
    struct series *s = calloc(1, head + strings);
    if (!s)
        return NULL;
    if (f->type == METRIC_HISTOGRAM) {
        s->buckets = calloc(f->nbounds ? f->nbounds : 1, sizeof(uint64_t));
        if (!s->buckets) {
            free(s);
            return NULL;
        }
    }
    s->hash = hash;
    s->values = (const char **)(void *)(s + 1);
    char *p = (char *)s + head;
    for (size_t i = 0; i < f->nlabels; i++) {
        const char *v = label_value(values, i);
        size_t n = strlen(v) + 1;
        memcpy(p, v, n);
        s->values[i] = p;
        p += n;
    }
    return s;
}

/* Called with f->lock held. NULL only on out-of-memory. */
static struct series *series_get(metric_family *f, const char *const *values)
{
    uint64_t h = hash_values(values, f->nlabels);
    for (struct series *s = f->table[h % f->table_size]; s; s = s->hnext) {
        if (s->hash != h)
            continue;
        size_t i = 0;
        while (i < f->nlabels && strcmp(s->values[i], label_value(values, i)) == 0)
            i++;
        if (i == f->nlabels)
            return s;
    }
    if (f->nseries >= f->table_size && table_grow(f) != 0) {
        /* Still correct with longer chains; only slower. */
    }
    struct series *s = series_new(f, values, h);
    if (!s)
        return NULL;
    size_t slot = (size_t)(h % f->table_size);
    s->hnext = f->table[slot];
    f->table[slot] = s;
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    f->nseries++;
    return s;
}

void metrics_inc(metric_family *f, const char *const *label_values, double by)
{
    if (!f || f->type == METRIC_HISTOGRAM || isnan(by))
        return;
    /* Counters only go up (Prometheus treats a decrease as a restart). */
    if (f->type == METRIC_COUNTER && by < 0)
        return;
    if (pthread_mutex_lock(&f->lock) != 0)
        return;
    struct series *s = series_get(f, label_values);
    if (s)
        s->value += by;
    (void)pthread_mutex_unlock(&f->lock);
}

/* Allowed on counters too: counters read from elsewhere (CPU seconds) are set by collectors. */
void metrics_set(metric_family *f, const char *const *label_values, double value)
{
    if (!f || f->type == METRIC_HISTOGRAM)
        return;
    if (pthread_mutex_lock(&f->lock) != 0)
        return;
    struct series *s = series_get(f, label_values);
    if (s)
        s->value = value;
    (void)pthread_mutex_unlock(&f->lock);
}

/* NaN observations are dropped: they belong in no bucket and would poison _sum forever. */
void metrics_observe(metric_family *f, const char *const *label_values, double value)
{
    if (!f || f->type != METRIC_HISTOGRAM || isnan(value))
        return;
    if (pthread_mutex_lock(&f->lock) != 0)
        return;
    struct series *s = series_get(f, label_values);
    if (s) {
        for (size_t i = 0; i < f->nbounds; i++) {
            if (value <= f->bounds[i]) {
                s->buckets[i]++;
                break;
            }
        }
        s->sum += value;
        s->count++;
    }
    (void)pthread_mutex_unlock(&f->lock);
}

void metrics_on_collect(metrics_collect_fn fn, void *ud)
{
    if (!fn || pthread_mutex_lock(&reg_lock) != 0)
        return;
    struct collector *c = NULL;
    if (reg_ncollectors < SIZE_MAX / sizeof(*c) - 1)
        c = realloc(reg_collectors, (reg_ncollectors + 1) * sizeof(*c));
    if (c) {
        reg_collectors = c;
        reg_collectors[reg_ncollectors++] = (struct collector){fn, ud};
    } else {
        log_error("metrics: out of memory registering a collector");
    }
    (void)pthread_mutex_unlock(&reg_lock);
}

/* Integers print without exponent while exactly representable (what people and Prometheus'
 * own clients expect: `42`, not `4.2e+01`); other values use the shortest form that reads
 * back to the same double. */
static void format_number(double v, char out[32])
{
    if (isnan(v)) {
        memcpy(out, "NaN", 4);
    } else if (isinf(v)) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
    } else if (v == 0) {
        memcpy(out, "0", 2);
    } else if (v == floor(v) && fabs(v) <= 9007199254740992.0) {
        (void)snprintf(out, 32, "%.0f", v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            (void)snprintf(out, 32, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

/* Label values escape \, " and newline; HELP text escapes only \ and newline. */
static int render_escaped(buf *out, const char *s, int quote)
{
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *esc = NULL;
        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '\n')
            esc = "\\n";
        else if (quote && *p == '"')
            esc = "\\\"";
        if (!esc && *p)
            continue;
        int rc = buf_append(out, run, (size_t)(p - run));
        if (rc)
            return rc;
        if (!*p)
            return 0;
        if ((rc = buf_puts(out, esc)) != 0)
            return rc;
        run = p + 1;
    }
}

static int render_labels(buf *out, const metric_family *f, const struct series *s, const char *le)
{
    if (f->nlabels == 0 && !le)
        return 0;
    int rc = buf_puts(out, "{");
    for (size_t i = 0; !rc && i < f->nlabels; i++) {
        rc = buf_printf(out, "%s%s=\"", i ? "," : "", f->label_names[i]);
        if (!rc)
            rc = render_escaped(out, s->values[i], 1);
        if (!rc)
            rc = buf_puts(out, "\"");
    }
    if (!rc && le)
        rc = buf_printf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    if (!rc)
        rc = buf_puts(out, "}");
    return rc;
}

/* Called with f->lock held. */
static int render_family(buf *out, metric_family *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    int rc = 0;
    char num[32];
    if (f->help[0]) {
        rc = buf_printf(out, "# HELP %s ", f->name);
        if (!rc)
            rc = render_escaped(out, f->help, 0);
        if (!rc)
            rc = buf_puts(out, "\n");
    }
    if (!rc)
        rc = buf_printf(out, "# TYPE %s %s\n", f->name, type_names[f->type]);
    for (struct series *s = f->first; !rc && s; s = s->next) {
        if (f->type != METRIC_HISTOGRAM) {
            format_number(s->value, num);
            rc = buf_puts(out, f->name);
            if (!rc)
                rc = render_labels(out, f, s, NULL);
            if (!rc)
                rc = buf_printf(out, " %s\n", num);
            continue;
        }
        uint64_t cumulative = 0;
        char le[32];
        for (size_t i = 0; !rc && i <= f->nbounds; i++) {
            if (i < f->nbounds) {
                cumulative += s->buckets[i];
                format_number(f->bounds[i], le);
            } else {
                cumulative = s->count;
                memcpy(le, "+Inf", 5);
            }
            rc = buf_printf(out, "%s_bucket", f->name);
            if (!rc)
                rc = render_labels(out, f, s, le);
            if (!rc)
                rc = buf_printf(out, " %llu\n", (unsigned long long)cumulative);
        }
        format_number(s->sum, num);
        if (!rc)
            rc = buf_printf(out, "%s_sum", f->name);
        if (!rc)
            rc = render_labels(out, f, s, NULL);
        if (!rc)
            rc = buf_printf(out, " %s\n%s_count", num, f->name);
        if (!rc)
            rc = render_labels(out, f, s, NULL);
        if (!rc)
            rc = buf_printf(out, " %llu\n", (unsigned long long)s->count);
    }
    return rc;
}

int metrics_render(buf *out)
{
    /* Collectors run without the registry lock: they call metrics_set, which may register. */
    struct collector *cs = NULL;
    size_t n = 0;
    if (pthread_mutex_lock(&reg_lock) != 0)
        return BUF_NOMEM;
    if (reg_ncollectors) {
        cs = malloc(reg_ncollectors * sizeof(*cs));
        if (cs) {
            memcpy(cs, reg_collectors, reg_ncollectors * sizeof(*cs));
            n = reg_ncollectors;
        }
    }
    (void)pthread_mutex_unlock(&reg_lock);
    for (size_t i = 0; i < n; i++)
        cs[i].fn(cs[i].ud);
    free(cs);

    if (pthread_mutex_lock(&reg_lock) != 0)
        return BUF_NOMEM;
    int rc = 0;
    for (metric_family *f = reg_first; !rc && f; f = f->next) {
        if (pthread_mutex_lock(&f->lock) != 0) {
            rc = BUF_NOMEM;
            break;
        }
        rc = render_family(out, f);
        (void)pthread_mutex_unlock(&f->lock);
    }
    (void)pthread_mutex_unlock(&reg_lock);
    return rc;
}

static double read_rss_bytes(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    if (!fp)
        return NAN;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(fp, "%llu %llu", &size, &resident);
    (void)fclose(fp);
    long page = sysconf(_SC_PAGESIZE);
    if (n != 2 || page <= 0)
        return NAN;
    return (double)resident * (double)page;
}

static double count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return NAN;
    int self = dirfd(d);
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        /* The directory being read holds an fd of its own; it is ours, not the process's. */
        if (atoi(e->d_name) == self)
            continue;
        n += 1;
    }
    (void)closedir(d);
    return n;
}

static void process_collect(void *ud)
{
    (void)ud;
    double rss = read_rss_bytes();
    double fds = count_open_fds();
    if (!isnan(rss))
        metrics_set(proc.rss, NULL, rss);
    if (!isnan(fds))
        metrics_set(proc.fds, NULL, fds);
    double up = (double)(time_mono_ns() - proc.start_mono_ns) / 1e9;
    metrics_set(proc.uptime, NULL, up > 0 ? up : 0);
}

void metrics_register_process(void)
{
    if (pthread_mutex_lock(&reg_lock) != 0)
        return;
    int done = reg_process_done;
    reg_process_done = 1;
    (void)pthread_mutex_unlock(&reg_lock);
    if (done)
        return;
    /* Registration happens at start-up, so "now" is the start. Deriving it from /proc's boot
     * time is wrong wherever the wall clock was set after boot (containers, VMs). */
    proc.start_time = (double)time_now_ms() / 1000.0;
    proc.start_mono_ns = time_mono_ns();
    proc.rss =
        metrics_gauge("process_resident_memory_bytes", "Resident memory size in bytes.", NULL);
    proc.fds = metrics_gauge("process_open_fds", "Number of open file descriptors.", NULL);
    proc.start = metrics_gauge("process_start_time_seconds",
                               "Start time of the process since unix epoch in seconds.", NULL);
    proc.uptime =
        metrics_gauge("praxis_uptime_seconds", "Seconds since the process started.", NULL);
    static const char *const build_labels[] = {"version", NULL};
    metric_family *build = metrics_gauge("praxis_build_info",
                                         "Build information; the value is always 1.", build_labels);
    const char *const version[] = {PRAXIS_VERSION};
    metrics_set(build, version, 1);
    metrics_set(proc.start, NULL, proc.start_time);
    metrics_on_collect(process_collect, NULL);
}

void metrics_reset(void)
{
    if (pthread_mutex_lock(&reg_lock) != 0)
        return;
    metric_family *f = reg_first;
    while (f) {
        metric_family *next = f->next;
        family_free(f);
        f = next;
    }
    reg_first = reg_last = NULL;
    free(reg_collectors);
    reg_collectors = NULL;
    reg_ncollectors = 0;
    reg_process_done = 0;
    memset(&proc, 0, sizeof(proc));
    (void)pthread_mutex_unlock(&reg_lock);
}

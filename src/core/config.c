/* Configuration: reads every variable once at startup (from the environment, through an
 * injectable lookup for tests, plus an optional .env file), applies defaults and validates each
 * value. The first problem found is reported in one line that names the variable; secrets and
 * connection strings (which may carry a password) are never echoed back. */
#include "core/config.h"
#include "core/seal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_DATABASE_URL "sqlite://./data/praxis.db"
#define DEFAULT_DATA_DIR "./data"
#define DEFAULT_PUBLIC_URL "http://localhost:8000"
#define GENERATED_SECRET_BYTES 48

struct loader {
    config_env_fn env;
    void *ud;
    char *err;
    size_t errlen;
};

struct dotenv_pair {
    char *key;
    char *value;
    int preset; /* already in the environment before the file was read: left alone */
};

static const char *env_get(const struct loader *l, const char *name);
static int fail(const struct loader *l, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void quote_value(const char *v, char *out, size_t outlen);
static int parse_int(const char *s, long min, long max, int *out);
static int load_int(const struct loader *l, const char *name, int def, int min, int max,
                    int *out) WUR;
static int load_bool(const struct loader *l, const char *name, int def, int *out) WUR;
static int load_host(const struct loader *l, config *c) WUR;
static int load_database_url(const struct loader *l, config *c) WUR;
static int load_data_dir(const struct loader *l, config *c) WUR;
static int mkdir_p(const char *path);
static int load_jwt_secret(const struct loader *l, config *c) WUR;
static size_t http_url_end(const char *s, int allow_path);
static int load_public_url(const struct loader *l, config *c) WUR;
static int load_cors_origins(const struct loader *l, config *c) WUR;
static int load_log_level(const struct loader *l, config *c) WUR;
static int load_str(const struct loader *l, const char *name, const char *def, size_t maxlen,
                    char **out) WUR;
static int load_jwt_secrets(const struct loader *l, config *c) WUR;
static int load_email(const struct loader *l, config *c) WUR;
static int load_scale(const struct loader *l, config *c) WUR;
static const char *dotenv_parse_line(char *line, char **key, char **value);
static int is_blank(char c);

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Empty counts as unset, so `PORT=` in a compose file means "use the default". */
static const char *env_get(const struct loader *l, const char *name)
{
    const char *v = l->env ? l->env(name, l->ud) : getenv(name);
    return v && *v ? v : NULL;
}

static int fail(const struct loader *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    /* ap was started just above; the analyzer misreads it (a known false positive). */
    if (l->err && l->errlen) {
        (void)vsnprintf(l->err, l->errlen, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
    }
    va_end(ap);
    return -1;
}

/* The value in double quotes, shortened, with control characters shown as \xNN so the message
 * stays one line whatever was in the variable. */
static void quote_value(const char *v, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    const size_t shown_max = 64;
    size_t o = 0;
    if (outlen < 16) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    size_t i;
    for (i = 0; i < shown_max && o + 8 < outlen && v[i]; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0x0F];
        } else {
            if (c == '"' || c == '\\')
                out[o++] = '\\';
            out[o++] = (char)c;
        }
    }
    if (v[i]) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* Digits with an optional leading '-', nothing else (no spaces, no '+', no 0x), in range. */
static int parse_int(const char *s, long min, long max, int *out)
{
    const char *p = s[0] == '-' ? s + 1 : s;
    if (*p < '0' || *p > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (errno == ERANGE || !end || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static int load_int(const struct loader *l, const char *name, int def, int min, int max, int *out)
{
    const char *v = env_get(l, name);
    if (!v) {
        *out = def;
        return 0;
    }
    if (parse_int(v, min, max, out) == 0)
        return 0;
    char q[96];
    quote_value(v, q, sizeof(q));
    return fail(l, "%s: %s is not an integer between %d and %d", name, q, min, max);
}

static int load_bool(const struct loader *l, const char *name, int def, int *out)
{
    static const char *const yes[] = {"true", "1", "yes"};
    static const char *const no[] = {"false", "0", "no"};
    const char *v = env_get(l, name);
    if (!v) {
        *out = def;
        return 0;
    }
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    char q[96];
    quote_value(v, q, sizeof(q));
    return fail(l, "%s: %s is not one of true, false, 1, 0, yes, no", name, q);
}

/* A light check (the listener reports what it cannot bind): a name or an IP literal. */
static int load_host(const struct loader *l, config *c)
{
    const char *v = env_get(l, "HOST");
    if (!v)
        v = DEFAULT_HOST;
    size_t n = strlen(v);
    int ok = n <= 255;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = v[i];
        ok = isalnum((unsigned char)ch) || ch == '.' || ch == '-' || ch == '_' || ch == ':' ||
             ch == '[' || ch == ']' || ch == '%';
    }
    if (!ok) {
        char q[96];
        quote_value(v, q, sizeof(q));
        return fail(l, "HOST: %s is not a valid host name or IP address", q);
    }
    c->host = strdup(v);
    return c->host ? 0 : fail(l, "HOST: out of memory");
}

/* Syntax only: whether the database answers is the store's business at startup. */
static int load_database_url(const struct loader *l, config *c)
{
    const char *v = env_get(l, "DATABASE_URL");
    if (!v)
        v = DEFAULT_DATABASE_URL;
    if (strncmp(v, "sqlite://", 9) == 0) {
        if (v[9] == '\0')
            return fail(l, "DATABASE_URL: sqlite:// needs a file path, "
                           "e.g. sqlite://./data/praxis.db");
    } else if (strncmp(v, "postgres://", 11) != 0 && strncmp(v, "postgresql://", 13) != 0) {
        return fail(l, "DATABASE_URL: must start with sqlite://, postgres:// or postgresql://");
    }
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return fail(l, "DATABASE_URL: contains a control character");
    c->database_url = strdup(v);
    return c->database_url ? 0 : fail(l, "DATABASE_URL: out of memory");
}

/* mkdir -p: every missing component, 0750 because the directory holds the database and
 * recordings. 0 on success, -1 with errno set. */
static int mkdir_p(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int rc = 0;
    for (char *p = copy + 1; rc == 0; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, 0750) != 0 && errno != EEXIST)
            rc = -1;
        *p = saved;
        if (saved == '\0')
            break;
    }
    int saved_errno = errno;
    free(copy);
    errno = saved_errno;
    return rc;
}

static int load_data_dir(const struct loader *l, config *c)
{
    const char *v = env_get(l, "DATA_DIR");
    if (!v)
        v = DEFAULT_DATA_DIR;
    char q[96];
    quote_value(v, q, sizeof(q));
    if (mkdir_p(v) != 0)
        return fail(l, "DATA_DIR: %s cannot be created: %s", q, strerror(errno));
    struct stat st;
    if (stat(v, &st) != 0)
        return fail(l, "DATA_DIR: %s cannot be read: %s", q, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fail(l, "DATA_DIR: %s is not a directory", q);
    if (access(v, W_OK | X_OK) != 0)
        return fail(l, "DATA_DIR: %s is not writable", q);
    c->data_dir = strdup(v);
    return c->data_dir ? 0 : fail(l, "DATA_DIR: out of memory");
}

static int load_jwt_secret(const struct loader *l, config *c)
{
    const char *v = env_get(l, "JWT_SECRET");
    if (c->jwt_secrets)
        return 0; /* JWT_SECRETS carries the keys and wins; JWT_SECRET is ignored */
    if (c->production) {
        if (!v)
            return fail(l, "JWT_SECRET: is required when PRODUCTION is true");
        if (strlen(v) < CONFIG_JWT_SECRET_MIN)
            return fail(l, "JWT_SECRET: must be at least %d bytes when PRODUCTION is true",
                        CONFIG_JWT_SECRET_MIN);
    }
    if (v) {
        c->jwt_secret = strdup(v);
        return c->jwt_secret ? 0 : fail(l, "JWT_SECRET: out of memory");
    }
    /* Development convenience: tokens stop verifying on restart, which is fine there. */
    if (sodium_init() < 0)
        return fail(l, "JWT_SECRET: unset and no secret could be generated (libsodium failed)");
    unsigned char raw[GENERATED_SECRET_BYTES];
    randombytes_buf(raw, sizeof(raw));
    c->jwt_secret = malloc(2 * sizeof(raw) + 1);
    if (!c->jwt_secret) {
        sodium_memzero(raw, sizeof(raw));
        return fail(l, "JWT_SECRET: out of memory");
    }
    (void)sodium_bin2hex(c->jwt_secret, 2 * sizeof(raw) + 1, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    c->jwt_secret_generated = 1;
    return 0;
}

/* Length of the valid http(s)://host[:port][/path] prefix of s, or 0 when s does not start
 * with one. Hosts are names, IPv4 or bracketed IPv6; no userinfo, query or fragment. */
static size_t http_url_end(const char *s, int allow_path)
{
    size_t i;
    if (strncasecmp(s, "http://", 7) == 0)
        i = 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        i = 8;
    else
        return 0;
    size_t host = i;
    if (s[i] == '[') {
        i++;
        while (isxdigit((unsigned char)s[i]) || s[i] == ':' || s[i] == '.')
            i++;
        if (s[i] != ']' || i == host + 1)
            return 0;
        i++;
    } else {
        while (isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '-' || s[i] == '_')
            i++;
        if (i == host)
            return 0;
    }
    if (s[i] == ':') {
        size_t start = ++i;
        long port = 0;
        while (isdigit((unsigned char)s[i]) && i - start < 5)
            port = port * 10 + (s[i++] - '0');
        if (i == start || port < 1 || port > 65535)
            return 0;
    }
    if (s[i] == '/' && allow_path) {
        while (s[i] && (unsigned char)s[i] > 0x20 && s[i] != 0x7f && s[i] != '?' && s[i] != '#')
            i++;
    }
    return s[i] == '\0' ? i : 0;
}

static int load_public_url(const struct loader *l, config *c)
{
    const char *v = env_get(l, "PUBLIC_URL");
    if (!v)
        v = DEFAULT_PUBLIC_URL;
    if (!http_url_end(v, 1)) {
        char q[96];
        quote_value(v, q, sizeof(q));
        return fail(l, "PUBLIC_URL: %s is not an http:// or https:// URL with a host", q);
    }
    c->public_url = strdup(v);
    if (!c->public_url)
        return fail(l, "PUBLIC_URL: out of memory");
    /* Links are built as public_url + "/path": a trailing slash would double it. */
    size_t n = strlen(c->public_url);
    const char *slashes = strstr(c->public_url, "://") + 3;
    while (n > 0 && c->public_url + n - 1 > slashes && c->public_url[n - 1] == '/')
        c->public_url[--n] = '\0';
    return 0;
}

/* Normalised to "a,b,c": items trimmed, lowercased (browsers send origins in lower case),
 * a trailing slash dropped, empty items skipped. "*" must stand alone. */
static int load_cors_origins(const struct loader *l, config *c)
{
    const char *v = env_get(l, "CORS_ORIGINS");
    if (!v)
        v = "";
    c->cors_origins = malloc(strlen(v) + 1);
    if (!c->cors_origins)
        return fail(l, "CORS_ORIGINS: out of memory");
    char *out = c->cors_origins;
    size_t o = 0, items = 0;
    int star = 0;
    const char *p = v;
    for (;;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a + 1 && b[-1] == '/' && b[-2] != '/')
            b--;
        size_t n = (size_t)(b - a);
        if (n) {
            char item[512];
            if (n >= sizeof(item))
                n = sizeof(item) - 1;
            memcpy(item, a, n);
            item[n] = '\0';
            if (strcmp(item, "*") == 0) {
                star = 1;
            } else if (!http_url_end(item, 0) || n != (size_t)(b - a)) {
                char q[96];
                quote_value(item, q, sizeof(q));
                return fail(l, "CORS_ORIGINS: %s is not an origin like https://example.com or *",
                            q);
            }
            if (items++)
                out[o++] = ',';
            for (size_t i = 0; i < n; i++)
                out[o++] = (char)tolower((unsigned char)item[i]);
        }
        if (*end == '\0')
            break;
        p = end + 1;
    }
    out[o] = '\0';
    if (star && items > 1)
        return fail(l, "CORS_ORIGINS: * cannot be combined with other origins");
    return 0;
}

static int load_log_level(const struct loader *l, config *c)
{
    const char *v = env_get(l, "LOG_LEVEL");
    if (!v) {
        c->log_level = LOG_INFO;
        return 0;
    }
    if (log_level_parse(v, &c->log_level) == 0)
        return 0;
    char q[96];
    quote_value(v, q, sizeof(q));
    return fail(l, "LOG_LEVEL: %s is not one of debug, info, warn, error", q);
}

static int load_str(const struct loader *l, const char *name, const char *def, size_t maxlen,
                    char **out)
{
    const char *v = env_get(l, name);
    if (!v)
        v = def;
    if (strlen(v) > maxlen)
        return fail(l, "%s: longer than %zu characters", name, maxlen);
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20)
            return fail(l, "%s: contains a control character", name);
    *out = strdup(v);
    return *out ? 0 : fail(l, "%s: out of memory", name);
}

/* "kid:secret,kid:secret": kids are short tokens that go into the JWT header; secrets are
 * never echoed. In production every secret needs CONFIG_JWT_SECRET_MIN bytes. */
static int load_jwt_secrets(const struct loader *l, config *c)
{
    const char *v = env_get(l, "JWT_SECRETS");
    if (!v)
        return 0;
    size_t entries = 0;
    const char *p = v;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', n);
        size_t kl = colon ? (size_t)(colon - p) : 0;
        if (!colon || kl == 0 || kl > 32)
            return fail(l, "JWT_SECRETS: entry %zu is not kid:secret (kid 1-32 characters)",
                        entries + 1);
        for (size_t i = 0; i < kl; i++) {
            char ch = p[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
                return fail(l, "JWT_SECRETS: entry %zu: kid may use letters, digits, - _ .",
                            entries + 1);
        }
        size_t sl = n - kl - 1;
        if (sl == 0 || (c->production && sl < CONFIG_JWT_SECRET_MIN))
            return fail(l, "JWT_SECRETS: entry %zu: the secret must be at least %d bytes%s",
                        entries + 1, c->production ? CONFIG_JWT_SECRET_MIN : 1,
                        c->production ? " when PRODUCTION is true" : "");
        entries++;
        p += n;
        if (*p == ',')
            p++;
    }
    if (entries == 0)
        return fail(l, "JWT_SECRETS: empty");
    c->jwt_secrets = strdup(v);
    return c->jwt_secrets ? 0 : fail(l, "JWT_SECRETS: out of memory");
}

static int load_email(const struct loader *l, config *c)
{
    const char *t = env_get(l, "EMAIL_TRANSPORT");
    if (!t || strcmp(t, "log") == 0)
        c->email_smtp = 0;
    else if (strcmp(t, "smtp") == 0)
        c->email_smtp = 1;
    else
        return fail(l, "EMAIL_TRANSPORT: must be log or smtp");
    const char *u = env_get(l, "SMTP_URL");
    if (c->email_smtp && !u)
        return fail(l, "SMTP_URL: is required when EMAIL_TRANSPORT is smtp");
    if (u) {
        if (strncmp(u, "smtp://", 7) != 0 && strncmp(u, "smtps://", 8) != 0)
            return fail(l, "SMTP_URL: must start with smtp:// or smtps://");
        c->smtp_url = strdup(u);
        if (!c->smtp_url)
            return fail(l, "SMTP_URL: out of memory");
    }
    if (load_str(l, "SMTP_FROM", "OET Praxis <no-reply@localhost>", 200, &c->smtp_from) != 0)
        return -1;
    if (!strchr(c->smtp_from, '@'))
        return fail(l, "SMTP_FROM: must contain an email address");
    return 0;
}

/* A speed-up factor for clocks, 0.001-1 (tests shrink minutes to seconds). */
static int load_one_scale(const struct loader *l, const char *name, double *out)
{
    const char *v = env_get(l, name);
    *out = 1.0;
    if (!v)
        return 0;
    char *end = NULL;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || !end || *end || end == v || !(d > 0.0009 && d <= 1.0))
        return fail(l, "%s: must be a number above 0.001 and at most 1", name);
    *out = d;
    return 0;
}

static int load_scale(const struct loader *l, config *c)
{
    if (load_one_scale(l, "RATE_LIMIT_WINDOW_SCALE", &c->rate_limit_scale) != 0)
        return -1;
    return load_one_scale(l, "SESSION_TIME_SCALE", &c->session_time_scale);
}

/* An optional http(s) base URL without a trailing slash. */
static int load_url(const struct loader *l, const char *name, const char *def, char **out)
{
    const char *v = env_get(l, name);
    if (!v || !*v)
        v = def;
    if (!v)
        return 0;
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0 &&
        strncmp(v, "ws://", 5) != 0 && strncmp(v, "wss://", 6) != 0)
        return fail(l, "%s: must start with http://, https://, ws:// or wss://", name);
    if (load_str(l, name, v, 500, out) != 0)
        return -1;
    size_t n = strlen(*out);
    while (n > 0 && (*out)[n - 1] == '/')
        (*out)[--n] = '\0';
    return 0;
}

/* An optional secret: never echoed; NULL when unset or empty. */
static int load_secret(const struct loader *l, const char *name, char **out)
{
    const char *v = env_get(l, name);
    if (!v || !*v)
        return 0;
    return load_str(l, name, v, 1000, out);
}

/* DATA_KEY encrypts recordings at rest. Required in production; otherwise a key is kept in
 * DATA_DIR/data.key (created 0600 on first start) so recordings survive restarts. */
static int load_data_key(const struct loader *l, config *c)
{
    const char *v = env_get(l, "DATA_KEY");
    if (v && *v) {
        if (seal_key_parse(v, c->data_key) != 0)
            return fail(l, "DATA_KEY: must be 64 hex characters or base64 of 32 bytes");
        return 0;
    }
    if (c->production)
        return fail(l, "DATA_KEY: is required when PRODUCTION is true "
                       "(e.g. openssl rand -hex 32)");
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/data.key", c->data_dir) >= (int)sizeof(path))
        return fail(l, "DATA_KEY: DATA_DIR is too long for the key file");
    FILE *f = fopen(path, "r");
    if (f) {
        char text[80] = "";
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[n] = '\0';
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
            text[--n] = '\0';
        if (seal_key_parse(text, c->data_key) != 0)
            return fail(l, "DATA_KEY: unset, and %s does not hold a valid key", path);
        c->data_key_generated = 1;
        return 0;
    }
    randombytes_buf(c->data_key, sizeof(c->data_key));
    char hex[65];
    sodium_bin2hex(hex, sizeof(hex), c->data_key, sizeof(c->data_key));
    /* Written to a private temporary name, then linked into place: a process starting at the
     * same moment either wins the link or reads the complete file of the one that did. */
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.%ld.%08x", path, (long)getpid(), randombytes_random());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return fail(l, "DATA_KEY: unset, and %s cannot be created: %s", tmp, strerror(errno));
    int ok = write(fd, hex, 64) == 64 && write(fd, "\n", 1) == 1;
    ok = (fsync(fd) == 0) && ok;
    close(fd);
    sodium_memzero(hex, sizeof(hex));
    int linked = ok ? link(tmp, path) : -1;
    int link_errno = errno;
    unlink(tmp);
    if (!ok)
        return fail(l, "DATA_KEY: unset, and %s cannot be written", path);
    if (linked != 0) {
        if (link_errno == EEXIST)
            return load_data_key(l, c); /* another process was first: use its key */
        return fail(l, "DATA_KEY: unset, and %s cannot be created: %s", path,
                    strerror(link_errno));
    }
    c->data_key_generated = 1;
    return 0;
}

static int load_choice(const struct loader *l, const char *name, const char *a, const char *b,
                       int *out)
{
    const char *v = env_get(l, name);
    *out = 0;
    if (!v || !*v || strcmp(v, a) == 0)
        return 0;
    if (strcmp(v, b) == 0) {
        *out = 1;
        return 0;
    }
    return fail(l, "%s: must be %s or %s", name, a, b);
}

static int load_voice(const struct loader *l, config *c)
{
    if (load_data_key(l, c) != 0 || load_choice(l, "STT_ENGINE", "pocketsphinx", "remote",
                                                &c->stt_remote) != 0 ||
        load_url(l, "STT_URL", NULL, &c->stt_url) != 0 ||
        load_secret(l, "STT_API_KEY", &c->stt_api_key) != 0 ||
        load_str(l, "STT_MODEL", "whisper-1", 200, &c->stt_model) != 0 ||
        load_str(l, "STT_MODEL_DIR", "/usr/share/pocketsphinx/model/en-us", 1000,
                 &c->stt_model_dir) != 0 ||
        load_int(l, "STT_DECODERS", 4, 1, 64, &c->stt_decoders) != 0 ||
        load_choice(l, "TTS_ENGINE", "flite", "remote", &c->tts_remote) != 0 ||
        load_url(l, "TTS_URL", NULL, &c->tts_url) != 0 ||
        load_secret(l, "TTS_API_KEY", &c->tts_api_key) != 0 ||
        load_str(l, "TTS_MODEL", "tts-1", 200, &c->tts_model) != 0 ||
        load_url(l, "LLM_BASE_URL", NULL, &c->llm_base_url) != 0 ||
        load_secret(l, "LLM_API_KEY", &c->llm_api_key) != 0 ||
        load_str(l, "LLM_MODEL", "gpt-4o-mini", 200, &c->llm_model) != 0 ||
        load_int(l, "LLM_TIMEOUT_MS", 8000, 100, 120000, &c->llm_timeout_ms) != 0 ||
        load_int(l, "VAD_HANGOVER_SHORT_MS", 400, 100, 3000, &c->vad_hangover_short_ms) != 0 ||
        load_int(l, "VAD_HANGOVER_LONG_MS", 900, 100, 5000, &c->vad_hangover_long_ms) != 0 ||
        load_int(l, "VAD_MIN_SPEECH_MS", 100, 20, 2000, &c->vad_min_speech_ms) != 0 ||
        load_int(l, "STREAM_IDLE_SECONDS", 60, 5, 3600, &c->stream_idle_s) != 0 ||
        load_url(l, "LIVEKIT_URL", NULL, &c->livekit_url) != 0 ||
        load_secret(l, "LIVEKIT_API_KEY", &c->livekit_api_key) != 0 ||
        load_secret(l, "LIVEKIT_API_SECRET", &c->livekit_api_secret) != 0)
        return -1;
    if (c->stt_remote && !c->stt_url)
        return fail(l, "STT_URL: is required when STT_ENGINE is remote");
    if (c->tts_remote && !c->tts_url)
        return fail(l, "TTS_URL: is required when TTS_ENGINE is remote");
    if (c->vad_hangover_short_ms > c->vad_hangover_long_ms)
        return fail(l, "VAD_HANGOVER_SHORT_MS: must not exceed VAD_HANGOVER_LONG_MS");
    if (c->livekit_url && (!c->livekit_api_key || !c->livekit_api_secret))
        return fail(l, "LIVEKIT_API_KEY: LIVEKIT_URL needs LIVEKIT_API_KEY and "
                       "LIVEKIT_API_SECRET");
    return 0;
}

static int load_billing(const struct loader *l, config *c)
{
    if (load_choice(l, "BILLING_PROVIDER", "local", "stripe", &c->billing_stripe) != 0 ||
        load_url(l, "STRIPE_API_BASE", "https://api.stripe.com", &c->stripe_api_base) != 0 ||
        load_secret(l, "STRIPE_SECRET_KEY", &c->stripe_secret_key) != 0 ||
        load_secret(l, "STRIPE_WEBHOOK_SECRET", &c->stripe_webhook_secret) != 0 ||
        load_secret(l, "STRIPE_PRICE_STANDARD", &c->stripe_price_standard) != 0 ||
        load_secret(l, "STRIPE_PRICE_PREMIUM", &c->stripe_price_premium) != 0 ||
        load_int(l, "STRIPE_TIMEOUT_MS", 10000, 100, 120000, &c->stripe_timeout_ms) != 0 ||
        load_int(l, "BILLING_GRACE_DAYS", 3, 0, 60, &c->billing_grace_days) != 0)
        return -1;
    if (c->billing_stripe) {
        if (!c->stripe_secret_key)
            return fail(l, "STRIPE_SECRET_KEY: is required when BILLING_PROVIDER is stripe");
        if (!c->stripe_webhook_secret)
            return fail(l, "STRIPE_WEBHOOK_SECRET: is required when BILLING_PROVIDER is stripe");
        if (!c->stripe_price_standard || !c->stripe_price_premium)
            return fail(l, "STRIPE_PRICE_STANDARD: STRIPE_PRICE_STANDARD and "
                           "STRIPE_PRICE_PREMIUM are required when BILLING_PROVIDER is stripe");
    }
    return 0;
}

int config_load(config *c, config_env_fn env, void *ud, char *err, size_t errlen)
{
    struct loader l = {env, ud, err, errlen};
    memset(c, 0, sizeof(*c));
    if (err && errlen)
        err[0] = '\0';

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    int default_threads = cpus > 128 ? 256 : (int)(2 * cpus);

    int rc = load_bool(&l, "PRODUCTION", 0, &c->production);
    if (!rc)
        rc = load_host(&l, c);
    if (!rc)
        rc = load_int(&l, "PORT", 8000, 1, 65535, &c->port);
    if (!rc)
        rc = load_database_url(&l, c);
    if (!rc)
        rc = load_data_dir(&l, c);
    if (!rc)
        rc = load_int(&l, "HTTP_THREADS", default_threads, 1, 256, &c->http_threads);
    if (!rc)
        rc = load_int(&l, "REQUEST_TIMEOUT_SECONDS", 30, 1, 3600, &c->request_timeout_s);
    if (!rc)
        rc = load_int(&l, "SHUTDOWN_GRACE_SECONDS", 10, 0, 600, &c->shutdown_grace_s);
    if (!rc)
        rc = load_int(&l, "DB_POOL_SIZE", 10, 1, 100, &c->db_pool_size);
    if (!rc)
        rc = load_jwt_secrets(&l, c);
    if (!rc)
        rc = load_jwt_secret(&l, c);
    if (!rc)
        rc = load_str(&l, "JWT_ISSUER", "oet-praxis", 200, &c->jwt_issuer);
    if (!rc)
        rc = load_str(&l, "JWT_AUDIENCE", "oet-praxis-api", 200, &c->jwt_audience);
    if (!rc)
        rc = load_int(&l, "ACCESS_TOKEN_TTL_SECONDS", 900, 1, 86400, &c->access_ttl_s);
    if (!rc)
        rc = load_int(&l, "REFRESH_TOKEN_TTL_SECONDS", 30 * 86400, 1, 365 * 86400,
                      &c->refresh_ttl_s);
    if (!rc)
        rc = load_int(&l, "EMAIL_VERIFY_TTL_SECONDS", 86400, 1, 30 * 86400, &c->verify_ttl_s);
    if (!rc)
        rc = load_int(&l, "PASSWORD_RESET_TTL_SECONDS", 3600, 1, 86400, &c->reset_ttl_s);
    if (!rc)
        rc = load_email(&l, c);
    if (!rc)
        rc = load_scale(&l, c);
    if (!rc)
        rc = load_public_url(&l, c);
    if (!rc)
        rc = load_cors_origins(&l, c);
    if (!rc)
        rc = load_log_level(&l, c);
    if (!rc)
        rc = load_voice(&l, c);
    if (!rc)
        rc = load_billing(&l, c);
    if (rc) {
        config_free(c);
        return -1;
    }
    return 0;
}

void config_free(config *c)
{
    if (!c)
        return;
    free(c->host);
    free(c->database_url);
    free(c->data_dir);
    if (c->jwt_secret) {
        sodium_memzero(c->jwt_secret, strlen(c->jwt_secret));
        free(c->jwt_secret);
    }
    free(c->public_url);
    free(c->cors_origins);
    if (c->jwt_secrets) {
        sodium_memzero(c->jwt_secrets, strlen(c->jwt_secrets));
        free(c->jwt_secrets);
    }
    free(c->jwt_issuer);
    free(c->jwt_audience);
    free(c->smtp_url);
    free(c->smtp_from);
    char **secrets[] = {&c->stt_api_key, &c->tts_api_key, &c->llm_api_key,
                        &c->livekit_api_secret, &c->stripe_secret_key,
                        &c->stripe_webhook_secret};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (*secrets[i])
            sodium_memzero(*secrets[i], strlen(*secrets[i]));
    char **strs[] = {&c->stt_url, &c->stt_api_key, &c->stt_model, &c->stt_model_dir,
                     &c->tts_url, &c->tts_api_key, &c->tts_model, &c->llm_base_url,
                     &c->llm_api_key, &c->llm_model, &c->livekit_url, &c->livekit_api_key,
                     &c->livekit_api_secret, &c->stripe_api_base, &c->stripe_secret_key,
                     &c->stripe_webhook_secret, &c->stripe_price_standard,
                     &c->stripe_price_premium};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    sodium_memzero(c->data_key, sizeof(c->data_key));
    memset(c, 0, sizeof(*c));
}

/* Parses one line in place. Returns NULL with *key == NULL for blank and comment lines, NULL
 * with key and value set for an assignment, or a description of what is wrong. */
static const char *dotenv_parse_line(char *line, char **key, char **value)
{
    *key = NULL;
    *value = NULL;
    char *p = line;
    while (is_blank(*p))
        p++;
    if (*p == '\0' || *p == '#')
        return NULL;
    if (strncmp(p, "export", 6) == 0 && is_blank(p[6])) {
        p += 6;
        while (is_blank(*p))
            p++;
    }
    char *k = p;
    if (!(isalpha((unsigned char)*p) || *p == '_'))
        return "expected KEY=VALUE with a name of letters, digits and _";
    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    char *key_end = p;
    while (is_blank(*p))
        p++;
    if (*p != '=')
        return "expected KEY=VALUE with a name of letters, digits and _";
    *key_end = '\0';
    p++;
    while (is_blank(*p))
        p++;

    char *v = p;
    char *rest;
    if (*p == '\'') {
        /* Single quotes are literal: no escapes at all. */
        char *close = strchr(p + 1, '\'');
        if (!close)
            return "unterminated single quote";
        v = p + 1;
        *close = '\0';
        rest = close + 1;
    } else if (*p == '"') {
        char *src = p + 1, *dst = p + 1;
        v = dst;
        for (;;) {
            if (*src == '\0')
                return "unterminated double quote";
            if (*src == '"')
                break;
            if (*src == '\\' && src[1] != '\0') {
                char e = src[1];
                char r = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
                if (e == 'n' || e == 't' || e == 'r' || e == '"' || e == '\\') {
                    *dst++ = r;
                    src += 2;
                    continue;
                }
                /* Unknown escapes stay as written, like most dotenv readers do. */
            }
            *dst++ = *src++;
        }
        rest = src + 1;
        *dst = '\0';
    } else {
        /* A comment starts at a # that follows whitespace; "a#b" keeps its #. */
        char *q = p;
        while (*q && !(*q == '#' && is_blank(q[-1])))
            q++;
        while (q > p && is_blank(q[-1]))
            q--;
        *q = '\0';
        *key = k;
        *value = v;
        return NULL;
    }
    while (is_blank(*rest))
        rest++;
    if (*rest != '\0' && *rest != '#')
        return "unexpected text after the closing quote";
    *key = k;
    *value = v;
    return NULL;
}

/* The whole file is parsed before anything is set, so a bad line leaves the environment as it
 * was. Within the file the last assignment of a name wins; the environment wins over the file. */
int config_load_dotenv(const char *path, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    FILE *fp = fopen(path, "r");
    if (!fp) {
        if (errno == ENOENT)
            return 0;
        if (err && errlen)
            (void)snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct dotenv_pair *pairs = NULL;
    size_t npairs = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &linecap, fp)) != -1) {
        lineno++;
        size_t len = (size_t)n;
        if (strlen(line) != len) {
            if (err && errlen)
                (void)snprintf(err, errlen, "%s:%zu: contains a NUL byte", path, lineno);
            rc = -1;
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        char *key, *value;
        const char *why = dotenv_parse_line(line, &key, &value);
        if (why) {
            if (err && errlen)
                (void)snprintf(err, errlen, "%s:%zu: %s", path, lineno, why);
            rc = -1;
            break;
        }
        if (!key)
            continue;
        if (npairs == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct dotenv_pair *np = realloc(pairs, ncap * sizeof(*np));
            if (!np) {
                rc = -1;
                break;
            }
            pairs = np;
            cap = ncap;
        }
        struct dotenv_pair *pr = &pairs[npairs];
        pr->key = strdup(key);
        pr->value = strdup(value);
        pr->preset = getenv(key) != NULL;
        npairs++;
        if (!pr->key || !pr->value) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(fp)) {
        if (err && errlen)
            (void)snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    (void)fclose(fp);
    free(line);

    /* preset was recorded before anything was set, so overwriting only replaces values this
     * file set itself: the last assignment in the file wins. */
    for (size_t i = 0; rc == 0 && i < npairs; i++) {
        if (!pairs[i].preset && setenv(pairs[i].key, pairs[i].value, 1) != 0) {
            if (err && errlen)
                (void)snprintf(err, errlen, "%s: cannot set %s: %s", path, pairs[i].key,
                               strerror(errno));
            rc = -1;
        }
    }
    if (rc != 0 && err && errlen && err[0] == '\0')
        (void)snprintf(err, errlen, "%s: out of memory", path);
    for (size_t i = 0; i < npairs; i++) {
        free(pairs[i].key);
        free(pairs[i].value);
    }
    free(pairs);
    return rc;
}

/* Route table and matching. Templates are compiled once into segments; matching walks every
 * route (the table is small) and keeps the most specific match, so "/v1/users/me" beats
 * "/v1/users/{id}" whatever the registration order. */
#include "http/router.h"

#include "core/ids.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

typedef struct {
    const char *lit;    /* literal text, or NULL for a parameter */
    size_t len;
    char name[32];      /* parameter name */
    route_param_type type;
} segment;

typedef struct {
    const route_def *def;
    segment *segs;
    size_t nsegs;
} compiled_route;

struct router {
    compiled_route *routes;
    size_t n, cap;
};

static const struct {
    http_method m;
    const char *name;
} method_names[] = {
    {HTTP_GET, "GET"},     {HTTP_HEAD, "HEAD"},     {HTTP_POST, "POST"},
    {HTTP_PUT, "PUT"},     {HTTP_PATCH, "PATCH"},   {HTTP_DELETE, "DELETE"},
    {HTTP_OPTIONS, "OPTIONS"},
};

http_method http_method_parse(const char *s)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < ARRAY_LEN(method_names); i++)
        if (strcmp(s, method_names[i].name) == 0)
            return method_names[i].m;
    return 0;
}

const char *http_method_name(http_method m)
{
    for (size_t i = 0; i < ARRAY_LEN(method_names); i++)
        if (method_names[i].m == m)
            return method_names[i].name;
    return "?";
}

router *router_new(void) { return calloc(1, sizeof(router)); }

void router_free(router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->routes[i].segs);
    free(r->routes);
    free(r);
}

/* Splits "/a/{id:uuid}/b" into segments. The path must start with '/', have no empty segment
 * (except the root "/"), and parameters must be whole segments with a known type. */
static int compile_template(const char *path, segment **out, size_t *nout)
{
    if (!path || path[0] != '/')
        return -1;
    size_t cap = 1;
    for (const char *p = path; *p; p++)
        if (*p == '/')
            cap++;
    segment *segs = calloc(cap, sizeof(*segs));
    if (!segs)
        return -1;
    size_t n = 0;
    const char *p = path + 1;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            goto fail;
        segment *s = &segs[n++];
        if (p[0] == '{') {
            if (p[len - 1] != '}' || len < 3)
                goto fail;
            const char *inner = p + 1;
            size_t ilen = len - 2;
            const char *colon = memchr(inner, ':', ilen);
            size_t nlen = colon ? (size_t)(colon - inner) : ilen;
            if (nlen == 0 || nlen >= sizeof(s->name))
                goto fail;
            memcpy(s->name, inner, nlen);
            s->name[nlen] = '\0';
            if (colon) {
                const char *t = colon + 1;
                size_t tlen = ilen - nlen - 1;
                if (tlen == 4 && memcmp(t, "uuid", 4) == 0)
                    s->type = PARAM_UUID;
                else if (tlen == 3 && memcmp(t, "int", 3) == 0)
                    s->type = PARAM_INT;
                else if (tlen == 6 && memcmp(t, "string", 6) == 0)
                    s->type = PARAM_STRING;
                else
                    goto fail;
            }
            for (size_t i = 0; i < nlen; i++) {
                char c = s->name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
                    goto fail;
            }
        } else {
            if (memchr(p, '{', len) || memchr(p, '}', len))
                goto fail;
            s->lit = p;
            s->len = len;
        }
        p += len;
        if (*p == '/') {
            p++;
            if (!*p) /* trailing slash */
                goto fail;
        }
    }
    *out = segs;
    *nout = n;
    return 0;
fail:
    free(segs);
    return -1;
}

static int same_shape(const compiled_route *a, const compiled_route *b)
{
    if (a->nsegs != b->nsegs)
        return 0;
    for (size_t i = 0; i < a->nsegs; i++) {
        const segment *x = &a->segs[i], *y = &b->segs[i];
        if ((x->lit == NULL) != (y->lit == NULL))
            return 0;
        if (x->lit && (x->len != y->len || memcmp(x->lit, y->lit, x->len) != 0))
            return 0;
    }
    return 1;
}

int router_add(router *r, const route_def *def)
{
    if (!r || !def || !def->handler || !def->method || (def->method & (def->method - 1)))
        return -1;
    if (def->method == HTTP_HEAD)
        return -1; /* HEAD is served by the GET route */
    compiled_route cr = {.def = def};
    if (compile_template(def->path, &cr.segs, &cr.nsegs) != 0)
        return -1;
    size_t nparams = 0;
    for (size_t i = 0; i < cr.nsegs; i++)
        if (!cr.segs[i].lit)
            nparams++;
    if (nparams > ROUTER_MAX_PARAMS)
        goto fail;
    for (size_t i = 0; i < r->n; i++)
        if (r->routes[i].def->method == def->method && same_shape(&r->routes[i], &cr))
            goto fail;
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 32;
        compiled_route *nr = realloc(r->routes, ncap * sizeof(*nr));
        if (!nr)
            goto fail;
        r->routes = nr;
        r->cap = ncap;
    }
    r->routes[r->n++] = cr;
    return 0;
fail:
    free(cr.segs);
    return -1;
}

static int parse_int_param(const char *s, long long *v)
{
    if (!*s || strlen(s) > 18)
        return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    errno = 0;
    *v = strtoll(s, NULL, 10);
    return errno ? -1 : 0;
}

/* Tries one route against the split path. Returns specificity (number of literal segments,
 * weighted by position) + 1 on match, 0 otherwise. */
static int try_route(const compiled_route *cr, const slice *parts, size_t nparts, arena *a,
                     route_match *m)
{
    if (cr->nsegs != nparts)
        return 0;
    int score = 1;
    m->nparams = 0;
    for (size_t i = 0; i < nparts; i++) {
        const segment *s = &cr->segs[i];
        if (s->lit) {
            if (s->len != parts[i].len || memcmp(s->lit, parts[i].ptr, s->len) != 0)
                return 0;
            score += 1 << (ROUTER_MAX_PARAMS + 8 - (int)(i < 15 ? i : 15));
            continue;
        }
        char *v = arena_strndup(a, parts[i].ptr, parts[i].len);
        if (!v || !*v)
            return 0;
        route_param *rp = &m->params[m->nparams++];
        rp->name = s->name;
        rp->value = v;
        rp->type = s->type;
        rp->ival = 0;
        if (s->type == PARAM_UUID) {
            if (!id_is_uuid(v, strlen(v)))
                return 0;
            /* One spelling of an id everywhere: SQLite compares text, PostgreSQL uuids. */
            for (char *q = v; *q; q++)
                if (*q >= 'A' && *q <= 'F')
                    *q = (char)(*q - 'A' + 'a');
        }
        if (s->type == PARAM_INT && parse_int_param(v, &rp->ival) != 0)
            return 0;
    }
    return score;
}

int router_add_table(router *r, const route_def *defs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (router_add(r, &defs[i]) != 0)
            return -1;
    return 0;
}

route_result router_match(const router *r, http_method m, const char *path, arena *a,
                          route_match *out)
{
    memset(out, 0, sizeof(*out));
    if (!path || path[0] != '/')
        return ROUTE_NOT_FOUND;
    /* Split once; at most 32 segments are meaningful for any route we serve. */
    slice parts[32];
    size_t nparts = 0;
    const char *p = path + 1;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || nparts == ARRAY_LEN(parts))
            return ROUTE_NOT_FOUND;
        parts[nparts++] = (slice){p, len};
        p += len;
        if (*p == '/') {
            p++;
            if (!*p)
                return ROUTE_NOT_FOUND;
        }
    }
    http_method want = m == HTTP_HEAD ? HTTP_GET : m;
    int best = 0, best_any = 0;
    unsigned allow = 0;
    route_match tmp;
    for (size_t i = 0; i < r->n; i++) {
        const compiled_route *cr = &r->routes[i];
        memset(&tmp, 0, sizeof(tmp));
        int score = try_route(cr, parts, nparts, a, &tmp);
        if (!score)
            continue;
        /* A path matches several methods' routes: remember the most specific shape first, so
         * Allow lists only the methods of the template that actually owns this path. */
        if (score > best_any) {
            best_any = score;
            allow = 0;
        }
        if (score == best_any) {
            allow |= (unsigned)cr->def->method;
            if (cr->def->method == HTTP_GET)
                allow |= HTTP_HEAD;
        }
        if (cr->def->method == want && score > best) {
            best = score;
            tmp.route = cr->def;
            tmp.template_path = cr->def->path;
            *out = tmp;
        }
    }
    if (best && best == best_any)
        return ROUTE_FOUND;
    if (best_any) {
        memset(out, 0, sizeof(*out));
        out->allow = allow | HTTP_OPTIONS;
        return ROUTE_METHOD_NOT_ALLOWED;
    }
    return ROUTE_NOT_FOUND;
}

const char *route_param_str(const route_match *m, const char *name)
{
    for (size_t i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return m->params[i].value;
    return NULL;
}

size_t router_count(const router *r) { return r->n; }

const route_def *router_at(const router *r, size_t i) { return i < r->n ? r->routes[i].def : NULL; }

void router_allow_header(unsigned allow, char *out, size_t outlen)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ARRAY_LEN(method_names); i++) {
        if (!(allow & (unsigned)method_names[i].m))
            continue;
        int w = snprintf(out + o, outlen - o, "%s%s", o ? ", " : "", method_names[i].name);
        if (w < 0 || (size_t)w >= outlen - o)
            break;
        o += (size_t)w;
    }
}

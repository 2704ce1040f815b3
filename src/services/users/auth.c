/* The authentication middleware: bearer access token → principal, with the user's current
 * state read from the database so disabling or demoting someone takes effect immediately. */
#include "services/users/internal.h"
#include "services/users/jwt.h"
#include "services/users/users.h"

#include "core/log.h"
#include "core/timeutil.h"

#include <string.h>
#include <strings.h>

static void unauthorized(http_req *req, http_res *res, const char *detail)
{
    http_res_header(req, res, "WWW-Authenticate", "Bearer realm=\"oet-praxis\", error=\"invalid_token\"");
    http_res_problem(req, res, 401, detail, NULL);
}

/* Browsers cannot set Authorization on a WebSocket handshake: a WebSocket route also takes
 * the token as the second subprotocol ("Sec-WebSocket-Protocol: bearer, <token>") or as
 * ?access_token=. */
static const char *ws_token(http_req *req)
{
    const char *q = http_req_query(req, "access_token");
    if (q && *q)
        return q;
    const char *p = http_req_header(req, "Sec-WebSocket-Protocol");
    if (!p)
        return NULL;
    while (*p == ' ')
        p++;
    if (strncasecmp(p, "bearer", 6) != 0)
        return NULL;
    p += 6;
    while (*p == ' ')
        p++;
    if (*p != ',')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, ", ");
    return n ? arena_strndup(req->pool, p, n) : NULL;
}

static int auth_before(http_req *req, http_res *res, void *ud)
{
    app *a = ud;
    if (req->route_status != ROUTE_FOUND || req->match.route->auth == AUTH_PUBLIC)
        return HTTP_NEXT;
    const char *h = http_req_header(req, "Authorization");
    const char *token = NULL;
    if (h && strncasecmp(h, "Bearer ", 7) == 0)
        token = h + 7;
    else if (req->match.route->ws)
        token = ws_token(req);
    if (!token) {
        http_res_header(req, res, "WWW-Authenticate", "Bearer realm=\"oet-praxis\"");
        http_res_problem(req, res, 401, "Sign in: this request needs an access token.", NULL);
        return HTTP_DONE;
    }
    while (*token == ' ')
        token++;
    access_claims cl;
    if (jwt_verify(a->keys, token, time_now_ms() / 1000, &cl) != 0) {
        unauthorized(req, res, "The access token is invalid or has expired.");
        return HTTP_DONE;
    }
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return HTTP_DONE;
    const db_param p[] = {DB_TEXT(cl.sub)};
    db_rows *r = NULL;
    int rc = db_query(c, "SELECT role, disabled FROM users WHERE id = $1 AND deleted_at IS NULL",
                      p, 1, &r);
    int step = rc == DB_OK ? db_rows_next(r) : -1;
    unsigned role = 0;
    int disabled = 0;
    if (step == 1) {
        role = role_parse(db_col_text(r, 0));
        disabled = (int)db_col_int(r, 1);
    }
    db_rows_free(r);
    if (step < 0) {
        service_db_failed(req, res, c, "loading the principal");
        db_release(c);
        return HTTP_DONE;
    }
    db_release(c);
    if (step == 0 || !role) {
        unauthorized(req, res, "The account of this token no longer exists.");
        return HTTP_DONE;
    }
    req->user_id = arena_strdup(req->pool, cl.sub);
    req->role = role;
    if (disabled) {
        http_res_problem_full(req, res, 403, "account-disabled", "Account Disabled",
                              "This account is disabled. Contact support.", NULL);
        return HTTP_DONE;
    }
    if (!(req->match.route->auth & role)) {
        http_res_problem(req, res, 403, "Your role does not allow this.", NULL);
        return HTTP_DONE;
    }
    /* The refresh-token family of this sign-in, for "revoke the other sessions". */
    if (cl.sid[0])
        req->session_family = arena_strdup(req->pool, cl.sid);
    return HTTP_NEXT;
}

http_middleware users_auth_middleware(app *a)
{
    return (http_middleware){"auth", auth_before, NULL, a};
}

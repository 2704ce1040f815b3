/* /v1/admin/users and /v1/admin/audit-logs: staff tools over accounts. Admin only; every
 * change is audited with the admin as actor. */
#include "services/users/internal.h"
#include "services/users/jwt.h"
#include "services/users/users.h"

#include "core/json.h"
#include "core/log.h"
#include "services/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Escapes LIKE wildcards so a search for "50%" finds "50%", not everything. */
static char *like_pattern(arena *a, const char *q)
{
    size_t n = strlen(q);
    char *out = arena_alloc(a, 2 * n + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    out[o++] = '%';
    for (size_t i = 0; i < n; i++) {
        char ch = q[i];
        if (ch == '%' || ch == '_' || ch == '\\')
            out[o++] = '\\';
        out[o++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    out[o++] = '%';
    out[o] = '\0';
    return out;
}

static long long count_rows(db_conn *c, const char *sql, const db_param *p, size_t n, int *err)
{
    db_rows *r = NULL;
    long long total = -1;
    if (db_query(c, sql, p, n, &r) == DB_OK && db_rows_next(r) == 1)
        total = db_col_int(r, 0);
    db_rows_free(r);
    *err = total < 0;
    return total;
}

static void admin_users_list(http_req *req, http_res *res)
{
    int page, per_page;
    if (http_req_pagination(req, res, &page, &per_page) != 0)
        return;
    const char *q = http_req_query(req, "q");
    const char *role = http_req_query(req, "role");
    if ((role && !role_parse(role)) || (q && strlen(q) > 200)) {
        json_t *errors = json_array();
        if (role && !role_parse(role))
            json_errors_add(errors, "role", "must be candidate, tutor or admin");
        if (q && strlen(q) > 200)
            json_errors_add(errors, "q", "must be at most 200 characters");
        http_res_problem(req, res, 422, "Invalid filters.", errors);
        json_decref(errors);
        return;
    }
    char *pattern = q && *q ? like_pattern(req->pool, q) : NULL;
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    /* NULL filters switch themselves off, so one statement serves every combination. Each
     * parameter meets its typed column before `IS NULL`, so PostgreSQL can infer its type. */
#define USERS_WHERE                                                                          \
    " FROM users WHERE (lower(email) LIKE $1 ESCAPE '\\' OR "                                     \
    "lower(full_name) LIKE $1 ESCAPE '\\' OR $1 IS NULL) AND (role = $2 OR $2 IS NULL)"
    db_param p[] = {DB_TEXT(pattern), DB_TEXT(role), DB_INT(per_page),
                    DB_INT((long long)(page - 1) * per_page)};
    int err = 0;
    long long total = count_rows(c, "SELECT count(*)" USERS_WHERE, p, 2, &err);
    db_rows *r = NULL;
    if (err || db_query(c,
                        "SELECT " USER_PROFILE_COLUMNS USERS_WHERE
                        " ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
                        p, 4, &r) != DB_OK) {
        service_db_failed(req, res, c, "admin user list");
        db_release(c);
        return;
    }
    json_t *items = json_array();
    while (db_rows_next(r) == 1)
        json_array_append_new(items, user_profile_json(r, 1));
    db_rows_free(r);
    db_release(c);
    http_res_json(req, res, 200, http_list_body(items, page, per_page, total));
}

static void not_found(http_req *req, http_res *res)
{
    http_res_problem(req, res, 404, "No user with this id.", NULL);
}

static void admin_user_get(http_req *req, http_res *res)
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    int dberr = 0;
    json_t *u = user_load(c, http_req_param(req, "id"), 1, NULL, NULL, &dberr);
    if (u)
        http_res_json(req, res, 200, u);
    else if (dberr)
        service_db_failed(req, res, c, "admin user get");
    else
        not_found(req, res);
    db_release(c);
}

static const json_field_spec admin_patch_spec[] = {
    {.name = "role", .type = JF_STRING},
    {.name = "disabled", .type = JF_BOOLEAN},
};

static void admin_user_patch(http_req *req, http_res *res)
{
    const char *id = http_req_param(req, "id");
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    json_t *errors = json_array();
    db_conn *c = NULL;
    json_validate(body, admin_patch_spec, ARRAY_LEN(admin_patch_spec), 1, errors);
    json_t *jrole = json_object_get(body, "role");
    json_t *jdis = json_object_get(body, "disabled");
    if (json_is_string(jrole) && !role_parse(json_string_value(jrole)))
        json_errors_add(errors, "role", "must be candidate, tutor or admin");
    if (json_array_size(errors) > 0) {
        http_res_problem(req, res, 422, "Some fields are invalid.", errors);
        goto out;
    }
    /* An admin locking themselves out leaves nobody to undo it. */
    if (strcasecmp(id, req->user_id) == 0 && (jdis || jrole)) {
        http_res_problem_full(req, res, 409, "own-account", "Own Account",
                              "You cannot change your own role or disable yourself.", NULL);
        goto out;
    }
    c = service_db_acquire(req, res);
    if (!c)
        goto out;
    int dberr = 0, was_disabled = 0;
    unsigned old_role = 0;
    json_t *before = user_load(c, id, 0, &was_disabled, &old_role, &dberr);
    if (!before) {
        if (dberr)
            service_db_failed(req, res, c, "admin user patch");
        else
            not_found(req, res);
        goto out;
    }
    json_decref(before);
    const char *new_role = json_is_string(jrole) ? json_string_value(jrole) : role_name(old_role);
    int new_disabled = jdis ? json_is_true(jdis) : was_disabled;
    if (strcmp(new_role, "candidate") == 0) {
        /* Candidates need a profession (staff may have none). */
        const db_param pp[] = {DB_TEXT(id)};
        int err2 = 0;
        if (count_rows(c, "SELECT count(*) FROM users WHERE id = $1 AND profession IS NULL", pp,
                       1, &err2) > 0) {
            http_res_problem(req, res, 409,
                             "This account has no profession and cannot become a candidate.",
                             NULL);
            goto out;
        }
    }
    char now[32];
    now_rfc3339(now);
    const db_param p[] = {DB_TEXT(new_role), DB_BOOL(new_disabled), DB_TEXT(now), DB_TEXT(id)};
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = db_exec(c, "UPDATE users SET role = $1, disabled = $2, updated_at = $3 WHERE id = $4",
                     p, 4, NULL);
    /* A disabled account is signed out everywhere at once. */
    if (rc == DB_OK && new_disabled && !was_disabled)
        rc = user_revoke_tokens(c, id, NULL);
    if (rc == DB_OK && strcmp(new_role, role_name(old_role)) != 0) {
        json_t *d = json_pack("{s:s, s:s}", "from", role_name(old_role), "to", new_role);
        audit_entry e = {.action = "admin.user_role_changed", .actor_id = req->user_id,
                         .target_type = "user", .target_id = id, .details = d};
        rc = audit_write(c, req, &e);
        json_decref(d);
    }
    if (rc == DB_OK && new_disabled != was_disabled) {
        audit_entry e = {.action = new_disabled ? "admin.user_disabled" : "admin.user_enabled",
                         .actor_id = req->user_id, .target_type = "user", .target_id = id};
        rc = audit_write(c, req, &e);
    }
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK) {
        db_rollback(c);
        service_db_failed(req, res, c, "admin user patch");
        goto out;
    }
    json_t *after = user_load(c, id, 1, NULL, NULL, &dberr);
    if (after)
        http_res_json(req, res, 200, after);
    else
        service_db_failed(req, res, c, "admin user reload");
out:
    if (c)
        db_release(c);
    json_decref(errors);
    json_decref(body);
}

static void admin_audit_list(http_req *req, http_res *res)
{
    int page, per_page;
    if (http_req_pagination(req, res, &page, &per_page) != 0)
        return;
    const char *actor = http_req_query(req, "actor_id");
    const char *target = http_req_query(req, "target_id");
    const char *action = http_req_query(req, "action");
    json_t *errors = json_array();
    if (actor && !id_is_uuid(actor, strlen(actor)))
        json_errors_add(errors, "actor_id", "must be a user id (UUID)");
    if (target && strlen(target) > 64)
        json_errors_add(errors, "target_id", "must be at most 64 characters");
    if (action && strlen(action) > 64)
        json_errors_add(errors, "action", "must be at most 64 characters");
    if (json_array_size(errors) > 0) {
        http_res_problem(req, res, 422, "Invalid filters.", errors);
        json_decref(errors);
        return;
    }
    json_decref(errors);
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
#define AUDIT_WHERE                                                                          \
    " FROM audit_logs WHERE (actor_id = $1 OR $1 IS NULL) AND (action = $2 OR $2 IS NULL) AND "    \
    "(target_id = $3 OR $3 IS NULL)"
    const db_param p[] = {DB_TEXT(actor), DB_TEXT(action), DB_TEXT(target), DB_INT(per_page),
                          DB_INT((long long)(page - 1) * per_page)};
    int err = 0;
    long long total = count_rows(c, "SELECT count(*)" AUDIT_WHERE, p, 3, &err);
    db_rows *r = NULL;
    if (err || db_query(c,
                        "SELECT id, action, actor_id, target_type, target_id, ip, user_agent, "
                        "request_id, details, created_at" AUDIT_WHERE
                        " ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5",
                        p, 5, &r) != DB_OK) {
        service_db_failed(req, res, c, "audit list");
        db_release(c);
        return;
    }
    json_t *items = json_array();
    while (db_rows_next(r) == 1) {
        json_t *o = json_object();
        for (size_t i = 0; i < db_col_count(r); i++) {
            const char *v = db_col_text(r, i);
            json_t *jv = NULL;
            if (v && strcmp(db_col_name(r, i), "details") == 0) {
                json_error_t e;
                jv = json_loads(v, 0, &e);
            }
            json_object_set_new(o, db_col_name(r, i), jv ? jv : v ? json_string(v) : json_null());
        }
        json_array_append_new(items, o);
    }
    db_rows_free(r);
    db_release(c);
    http_res_json(req, res, 200, http_list_body(items, page, per_page, total));
}

static const int c_list[] = {200, 401, 403, 422, 0};
static const int c_get[] = {200, 401, 403, 404, 0};
static const int c_patch[] = {200, 400, 401, 403, 404, 409, 415, 422, 0};

static const route_def admin_routes[] = {
    {.method = HTTP_GET, .path = "/v1/admin/users", .handler = admin_users_list,
     .service = "users", .tag = "admin", .responses = c_list, .auth = ROLE_ADMIN,
     .summary = "Search users (?q= email or name, ?role=, ?page=, ?per_page=)"},
    {.method = HTTP_GET, .path = "/v1/admin/users/{id:uuid}", .handler = admin_user_get,
     .service = "users", .tag = "admin", .responses = c_get, .auth = ROLE_ADMIN,
     .summary = "One user, with disabled and deleted_at"},
    {.method = HTTP_PATCH, .path = "/v1/admin/users/{id:uuid}", .handler = admin_user_patch,
     .service = "users", .tag = "admin", .body = BODY_JSON, .responses = c_patch,
     .auth = ROLE_ADMIN, .summary = "Change a user's role or disable/enable the account"},
    {.method = HTTP_GET, .path = "/v1/admin/audit-logs", .handler = admin_audit_list,
     .service = "users", .tag = "admin", .responses = c_list, .auth = ROLE_ADMIN,
     .summary = "The audit log (?actor_id=, ?action=, ?target_id=, ?page=)"},
};

int users_register_admin_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, admin_routes);
}

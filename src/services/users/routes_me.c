/* /v1/users/me: the caller's profile, password change, GDPR export and erasure. Every query is
 * keyed by the authenticated user id: there is no way to name another user here. */
#include "services/users/internal.h"
#include "services/users/jwt.h"
#include "services/users/password.h"
#include "services/users/users.h"

#include "cache/ratelimit.h"
#include "core/json.h"
#include "core/log.h"
#include "services/audit.h"
#include "store/blob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void me_get(http_req *req, http_res *res)
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    int dberr = 0;
    json_t *user = user_load(c, req->user_id, 0, NULL, NULL, &dberr);
    if (!user)
        service_db_failed(req, res, c, "load profile");
    else
        http_res_json(req, res, 200, user);
    db_release(c);
}

/* Fields a user may change on their own profile. */
static const json_field_spec patch_spec[] = {
    {.name = "full_name", .type = JF_STRING, .min_len = 1, .max_len = 120},
    {.name = "profession", .type = JF_STRING},
    {.name = "target_grade", .type = JF_STRING, .nullable = 1},
    {.name = "exam_date", .type = JF_STRING, .nullable = 1},
    {.name = "first_language", .type = JF_STRING, .nullable = 1, .max_len = 60},
    {.name = "country", .type = JF_STRING, .nullable = 1, .max_len = 60},
};

static void me_patch(http_req *req, http_res *res)
{
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    json_t *errors = json_array();
    json_validate(body, patch_spec, ARRAY_LEN(patch_spec), 1, errors);
    if (json_array_size(errors) == 0) {
        check_full_name(json_object_get(body, "full_name"), errors);
        check_profession(json_object_get(body, "profession"), errors);
        check_target_grade(json_object_get(body, "target_grade"), errors);
        check_exam_date(json_object_get(body, "exam_date"), errors);
    }
    if (json_array_size(errors) > 0) {
        http_res_problem(req, res, 422, "Some fields are invalid.", errors);
        goto out;
    }
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        goto out;
    /* One statement whatever is sent: a field that is absent keeps its value (flag = 0), a
     * field that is present is set, to NULL where the client sent null. */
    db_param p[14];
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_LEN(patch_spec); i++) {
        json_t *v = json_object_get(body, patch_spec[i].name);
        p[n++] = DB_BOOL(v != NULL);
        p[n++] = DB_TEXT(v ? json_string_value(v) : NULL);
    }
    char now[32];
    now_rfc3339(now);
    p[n++] = DB_TEXT(now);
    p[n++] = DB_TEXT(req->user_id);
    int rc = db_exec(c,
                     "UPDATE users SET "
                     "full_name = CASE WHEN $1 THEN $2 ELSE full_name END, "
                     "profession = CASE WHEN $3 THEN $4 ELSE profession END, "
                     "target_grade = CASE WHEN $5 THEN $6 ELSE target_grade END, "
                     "exam_date = CASE WHEN $7 THEN $8 ELSE exam_date END, "
                     "first_language = CASE WHEN $9 THEN $10 ELSE first_language END, "
                     "country = CASE WHEN $11 THEN $12 ELSE country END, "
                     "updated_at = $13 WHERE id = $14",
                     p, n, NULL);
    int dberr = 0;
    json_t *user = rc == DB_OK ? user_load(c, req->user_id, 0, NULL, NULL, &dberr) : NULL;
    if (!user)
        service_db_failed(req, res, c, "update profile");
    else
        http_res_json(req, res, 200, user);
    db_release(c);
out:
    json_decref(errors);
    json_decref(body);
}

/* Checks the caller's password; answers 403 itself when wrong. 1 = correct. */
static int password_matches(http_req *req, http_res *res, db_conn *c, const char *password,
                            char email[EMAIL_MAX + 1])
{
    const db_param p[] = {DB_TEXT(req->user_id)};
    db_rows *r = NULL;
    if (db_query(c, "SELECT password_hash, email FROM users WHERE id = $1", p, 1, &r) != DB_OK ||
        db_rows_next(r) != 1) {
        db_rows_free(r);
        service_db_failed(req, res, c, "password check");
        return 0;
    }
    int ok = password_verify(db_col_text(r, 0), password) == 0;
    if (email)
        snprintf(email, EMAIL_MAX + 1, "%s", db_col_text(r, 1));
    db_rows_free(r);
    if (!ok)
        http_res_problem_full(req, res, 403, "wrong-password", "Wrong Password",
                              "The password you entered is not correct.", NULL);
    return ok;
}

static const json_field_spec password_spec[] = {
    {.name = "current_password", .type = JF_STRING, .required = 1, .max_len = PASSWORD_MAX},
    {.name = "new_password", .type = JF_STRING, .required = 1},
};

static void me_password(http_req *req, http_res *res)
{
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    json_t *errors = json_array();
    db_conn *c = NULL;
    json_validate(body, password_spec, ARRAY_LEN(password_spec), 1, errors);
    if (json_array_size(errors) > 0) {
        http_res_problem(req, res, 422, "Some fields are invalid.", errors);
        goto out;
    }
    c = service_db_acquire(req, res);
    if (!c)
        goto out;
    char email[EMAIL_MAX + 1];
    if (!password_matches(req, res, c,
                          json_string_value(json_object_get(body, "current_password")), email))
        goto out;
    const char *fresh = json_string_value(json_object_get(body, "new_password"));
    const char *why;
    if (password_check_policy(fresh, email, &why) != 0) {
        json_errors_add(errors, "new_password", why);
        http_res_problem(req, res, 422, "Some fields are invalid.", errors);
        goto out;
    }
    char hash[crypto_pwhash_STRBYTES], now[32];
    if (password_hash(fresh, hash) != 0) {
        http_res_problem(req, res, 500, NULL, NULL);
        goto out;
    }
    now_rfc3339(now);
    const db_param p[] = {DB_TEXT(hash), DB_TEXT(now), DB_TEXT(req->user_id)};
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = db_exec(c, "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3", p,
                     3, NULL);
    /* The sign-in making this request stays; every other one is signed out. */
    if (rc == DB_OK)
        rc = user_revoke_tokens(c, req->user_id, req->session_family);
    if (rc == DB_OK) {
        audit_entry e = {.action = "user.password_changed", .actor_id = req->user_id,
                         .target_type = "user", .target_id = req->user_id};
        rc = audit_write(c, req, &e);
    }
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK) {
        db_rollback(c);
        service_db_failed(req, res, c, "password change");
        goto out;
    }
    http_res_bytes(req, res, 204, "application/json", NULL, 0);
out:
    if (c)
        db_release(c);
    json_decref(errors);
    json_decref(body);
}

/* ---- GDPR export ------------------------------------------------------------------------ */

/* Every row of one query as an array of objects keyed by column name. Values are the
 * database's text (JSON columns parsed back into JSON so the export stays readable). */
static json_t *rows_json(db_conn *c, const char *sql, const char *user_id)
{
    const db_param p[] = {DB_TEXT(user_id)};
    db_rows *r = NULL;
    if (db_query(c, sql, p, 1, &r) != DB_OK)
        return NULL;
    json_t *arr = json_array();
    int step;
    while ((step = db_rows_next(r)) == 1) {
        json_t *o = json_object();
        for (size_t i = 0; i < db_col_count(r); i++) {
            const char *name = db_col_name(r, i);
            const char *v = db_col_text(r, i);
            json_t *jv = NULL;
            if (v && (v[0] == '{' || v[0] == '[')) {
                json_error_t e;
                jv = json_loads(v, 0, &e);
            }
            json_object_set_new(o, name, jv ? jv : v ? json_string(v) : json_null());
        }
        json_array_append_new(arr, o);
    }
    db_rows_free(r);
    if (step < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

static const struct {
    const char *key;
    const char *sql;
} export_parts[] = {
    {"sign_ins", "SELECT id, family_id, created_at, last_used_at, expires_at, revoked_at, ip, "
                 "user_agent FROM refresh_tokens WHERE user_id = $1 ORDER BY created_at"},
    {"sessions", "SELECT * FROM sessions WHERE user_id = $1 ORDER BY created_at"},
    {"turns", "SELECT t.* FROM turns t JOIN sessions s ON s.id = t.session_id "
              "WHERE s.user_id = $1 ORDER BY t.session_id, t.n"},
    {"feedback_reports", "SELECT f.* FROM feedback_reports f JOIN sessions s ON "
                         "s.id = f.session_id WHERE s.user_id = $1"},
    {"progress_snapshots", "SELECT * FROM progress_snapshots WHERE user_id = $1"},
    {"subscriptions", "SELECT * FROM subscriptions WHERE user_id = $1"},
    {"invoices", "SELECT * FROM invoices WHERE user_id = $1"},
    {"usage_events", "SELECT * FROM usage_events WHERE user_id = $1"},
    {"audit_logs", "SELECT id, action, actor_id, target_type, target_id, ip, user_agent, "
                   "request_id, details, created_at FROM audit_logs WHERE actor_id = $1 OR "
                   "target_id = CAST($1 AS TEXT) ORDER BY created_at"},
};

static void me_export(http_req *req, http_res *res)
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    int dberr = 0;
    json_t *profile = user_load(c, req->user_id, 0, NULL, NULL, &dberr);
    json_t *doc = profile ? json_pack("{s:s, s:o}", "format", "oet-praxis-export/1", "profile",
                                      profile)
                          : NULL;
    char now[32];
    now_rfc3339(now);
    for (size_t i = 0; doc && i < ARRAY_LEN(export_parts); i++) {
        json_t *part = rows_json(c, export_parts[i].sql, req->user_id);
        if (!part) {
            json_decref(doc);
            doc = NULL;
            break;
        }
        json_object_set_new(doc, export_parts[i].key, part);
    }
    if (doc) {
        json_object_set_new(doc, "exported_at", json_string(now));
        audit_entry e = {.action = "user.export", .actor_id = req->user_id,
                         .target_type = "user", .target_id = req->user_id};
        if (audit_write(c, req, &e) != DB_OK)
            log_error("audit user.export not written: %s", db_errmsg(c));
        http_res_header(req, res, "Content-Disposition",
                        "attachment; filename=\"oet-praxis-export.json\"");
        http_res_json(req, res, 200, doc);
    } else {
        service_db_failed(req, res, c, "export");
    }
    db_release(c);
}

/* ---- erasure ---------------------------------------------------------------------------- */

static const json_field_spec delete_spec[] = {
    {.name = "password", .type = JF_STRING, .required = 1, .max_len = PASSWORD_MAX},
};

/* Collects the audio blobs of the user's turns: they are removed after the commit (a file
 * cannot join the transaction; removing after means a crash leaves an orphan file, never a
 * dangling row). */
static json_t *audio_keys(db_conn *c, const char *user_id)
{
    return rows_json(c,
                     "SELECT t.audio_key AS k FROM turns t JOIN sessions s ON s.id = t.session_id "
                     "WHERE s.user_id = $1 AND t.audio_key IS NOT NULL",
                     user_id);
}

static void me_delete(http_req *req, http_res *res)
{
    app *a = req->app;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    json_t *errors = json_array();
    json_t *keys = NULL;
    db_conn *c = NULL;
    json_validate(body, delete_spec, ARRAY_LEN(delete_spec), 1, errors);
    if (json_array_size(errors) > 0) {
        http_res_problem(req, res, 422, "Confirm with your password.", errors);
        goto out;
    }
    c = service_db_acquire(req, res);
    if (!c)
        goto out;
    if (!password_matches(req, res, c, json_string_value(json_object_get(body, "password")),
                          NULL))
        goto out;
    keys = audio_keys(c, req->user_id);
    if (!keys) {
        service_db_failed(req, res, c, "erase: audio lookup");
        goto out;
    }
    char now[32], anon_email[80];
    now_rfc3339(now);
    snprintf(anon_email, sizeof(anon_email), "erased-%s@erased.invalid", req->user_id);
    const db_param uid[] = {DB_TEXT(req->user_id)};
    const db_param anon[] = {DB_TEXT(anon_email), DB_TEXT(now), DB_TEXT(req->user_id)};
    static const char *const erase_sql[] = {
        "DELETE FROM sessions WHERE user_id = $1", /* turns, feedback cascade */
        "DELETE FROM progress_snapshots WHERE user_id = $1",
        "DELETE FROM refresh_tokens WHERE user_id = $1",
        "DELETE FROM email_tokens WHERE user_id = $1",
    };
    int rc = db_begin(c);
    for (size_t i = 0; rc == DB_OK && i < ARRAY_LEN(erase_sql); i++)
        rc = db_exec(c, erase_sql[i], uid, 1, NULL);
    /* The row stays (billing rows point at it, anonymised) but holds nothing personal. */
    if (rc == DB_OK)
        rc = db_exec(c,
                     "UPDATE users SET email = $1, full_name = 'Erased user', password_hash = '!', "
                     "target_grade = NULL, exam_date = NULL, first_language = NULL, "
                     "country = NULL, email_verified = FALSE, disabled = TRUE, deleted_at = $2, "
                     "updated_at = $2 WHERE id = $3",
                     anon, 3, NULL);
    if (rc == DB_OK)
        rc = db_exec(c,
                     "UPDATE audit_logs SET ip = NULL, user_agent = NULL WHERE actor_id = $1 OR "
                     "target_id = CAST($1 AS TEXT)",
                     uid, 1, NULL);
    if (rc == DB_OK) {
        audit_entry e = {.action = "user.delete", .actor_id = req->user_id,
                         .target_type = "user", .target_id = req->user_id};
        /* The erasure's own row keeps no IP or user agent either. */
        rc = audit_write(c, NULL, &e);
    }
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK) {
        db_rollback(c);
        service_db_failed(req, res, c, "erase");
        goto out;
    }
    size_t i;
    json_t *row;
    json_array_foreach(keys, i, row)
    {
        const char *k = json_string_value(json_object_get(row, "k"));
        if (k && a->blobs && blob_delete(a->blobs, k) != 0)
            log_warn("erase: audio blob %s could not be removed", k);
    }
    http_res_bytes(req, res, 204, "application/json", NULL, 0);
out:
    if (c)
        db_release(c);
    json_decref(keys);
    json_decref(errors);
    json_decref(body);
}

static const rate_rule password_limits[] = {
    {.name = "password-user", .limit = 10, .window_s = 3600, .key = RL_KEY_USER},
    {.name = NULL},
};

static const int c_me[] = {200, 401, 403, 0};
static const int c_patch[] = {200, 400, 401, 403, 415, 422, 0};
static const int c_password[] = {204, 400, 401, 403, 422, 429, 0};
static const int c_delete[] = {204, 400, 401, 403, 422, 429, 0};

static const route_def me_routes[] = {
    {.method = HTTP_GET, .path = "/v1/users/me", .handler = me_get, .service = "users",
     .tag = "users", .responses = c_me, .summary = "The caller's profile", .auth = AUTH_USER},
    {.method = HTTP_PATCH, .path = "/v1/users/me", .handler = me_patch, .service = "users",
     .tag = "users", .body = BODY_JSON, .responses = c_patch,
     .summary = "Change profile fields (full_name, profession, target_grade, exam_date, "
                "first_language, country)",
     .auth = AUTH_USER},
    {.method = HTTP_POST, .path = "/v1/users/me/password", .handler = me_password,
     .service = "users", .tag = "users", .body = BODY_JSON, .responses = c_password,
     .summary = "Change the password; signs out every other session", .auth = AUTH_USER,
     .rate_limits = password_limits},
    {.method = HTTP_GET, .path = "/v1/users/me/export", .handler = me_export,
     .service = "users", .tag = "users", .responses = c_me,
     .summary = "Everything stored about the caller (GDPR art. 15/20)", .auth = AUTH_USER},
    {.method = HTTP_DELETE, .path = "/v1/users/me", .handler = me_delete, .service = "users",
     .tag = "users", .body = BODY_JSON, .responses = c_delete,
     .summary = "Erase the account (password required); billing rows stay, anonymised",
     .auth = AUTH_USER, .rate_limits = password_limits},
};

int users_register_me_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, me_routes);
}

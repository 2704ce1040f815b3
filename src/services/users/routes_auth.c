/* POST /v1/auth/...: register, login, refresh, logout, email verification and password reset.
 * Every state change and its audit row (and its email job) commit in one transaction. */
#include "services/users/internal.h"
#include "services/users/jwt.h"
#include "services/users/password.h"
#include "services/users/tokens.h"
#include "services/users/users.h"

#include "cache/ratelimit.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "services/audit.h"

#include <stdio.h>
#include <string.h>

/* ---- shared pieces ------------------------------------------------------------------- */

/* Parses the JSON body and checks it against spec; answers 400/422 itself and returns NULL. */
static json_t *read_body(http_req *req, http_res *res, const json_field_spec *spec, size_t n,
                         json_t **errors_out)
{
    json_t *body = http_req_json(req, res);
    if (!body)
        return NULL;
    json_t *errors = json_array();
    json_validate(body, spec, n, 1, errors);
    *errors_out = errors;
    return body;
}

/* 1 if errors already names field: the finer checks below only look at fields whose shape
 * passed, so one mistake gives one message. */
static int has_error(const json_t *errors, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        if (f && strcmp(f, field) == 0)
            return 1;
    }
    return 0;
}

static int answer_if_errors(http_req *req, http_res *res, json_t *errors)
{
    if (json_array_size(errors) == 0)
        return 0;
    http_res_problem(req, res, 422, "Some fields are invalid.", errors);
    return 1;
}

static void invalid_credentials(http_req *req, http_res *res)
{
    http_res_problem_full(req, res, 401, "invalid-credentials", "Invalid Credentials",
                          "The email or the password is wrong.", NULL);
}

static void invalid_token(http_req *req, http_res *res)
{
    http_res_problem_full(req, res, 400, "invalid-token", "Invalid Token",
                          "This link is invalid, already used or expired.", NULL);
}

static void audit_simple(db_conn *c, http_req *req, const char *action, const char *actor,
                         const char *target, json_t *details)
{
    audit_entry e = {.action = action, .actor_id = actor, .target_type = target ? "user" : NULL,
                     .target_id = target, .details = details};
    if (audit_write(c, req, &e) != DB_OK)
        log_error("audit %s not written: %s", action, db_errmsg(c));
    json_decref(details);
}

/* The end of a successful register or login, inside the caller's open transaction: a new
 * token pair, the audit row, commit, then {user, tokens} with status. Releases c. */
static void sign_in(http_req *req, http_res *res, db_conn *c, const char *id, unsigned role,
                    const char *action, int status)
{
    json_t *tokens = NULL;
    int rc = user_issue_tokens(req, c, id, role, NULL, NULL, &tokens);
    if (rc == DB_OK) {
        audit_entry e = {.action = action, .actor_id = id, .target_type = "user",
                         .target_id = id};
        rc = audit_write(c, req, &e);
    }
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK) {
        db_rollback(c);
        json_decref(tokens);
        service_db_failed(req, res, c, action);
        db_release(c);
        return;
    }
    int dberr = 0;
    json_t *user = user_load(c, id, 0, NULL, NULL, &dberr);
    db_release(c);
    json_object_set_new(tokens, "user", user ? user : json_null());
    http_res_json(req, res, status, tokens);
}

/* ---- register ------------------------------------------------------------------------ */

static const json_field_spec register_spec[] = {
    {.name = "email", .type = JF_STRING, .required = 1, .min_len = 3, .max_len = 254},
    {.name = "password", .type = JF_STRING, .required = 1},
    {.name = "full_name", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 120},
    {.name = "profession", .type = JF_STRING, .required = 1},
    {.name = "target_grade", .type = JF_STRING, .nullable = 1},
    {.name = "exam_date", .type = JF_STRING, .nullable = 1},
    {.name = "first_language", .type = JF_STRING, .nullable = 1, .max_len = 60},
    {.name = "country", .type = JF_STRING, .nullable = 1, .max_len = 60},
};

static void auth_register(http_req *req, http_res *res)
{
    json_t *errors = NULL;
    json_t *body = read_body(req, res, register_spec, ARRAY_LEN(register_spec), &errors);
    if (!body)
        return;
    char email[EMAIL_MAX + 1] = "";
    const char *why = NULL;
    json_t *jemail = json_object_get(body, "email"), *jpw = json_object_get(body, "password");
    if (!has_error(errors, "email") &&
        email_normalize(json_string_value(jemail), email, sizeof(email), &why) != 0)
        json_errors_add(errors, "email", why);
    if (!has_error(errors, "password") &&
        password_check_policy(json_string_value(jpw), email[0] ? email : NULL, &why) != 0)
        json_errors_add(errors, "password", why);
    if (!has_error(errors, "profession"))
        check_profession(json_object_get(body, "profession"), errors);
    if (!has_error(errors, "full_name"))
        check_full_name(json_object_get(body, "full_name"), errors);
    if (!has_error(errors, "target_grade"))
        check_target_grade(json_object_get(body, "target_grade"), errors);
    if (!has_error(errors, "exam_date"))
        check_exam_date(json_object_get(body, "exam_date"), errors);
    if (answer_if_errors(req, res, errors))
        goto out;

    char hash[crypto_pwhash_STRBYTES];
    if (password_hash(json_string_value(jpw), hash) != 0) {
        http_res_problem(req, res, 500, NULL, NULL);
        goto out;
    }
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        goto out;
    char id[UUID_STR_LEN], now[32];
    id_uuid7(id);
    now_rfc3339(now);
    const db_param p[] = {
        DB_TEXT(id),
        DB_TEXT(email),
        DB_TEXT(hash),
        DB_TEXT(json_string_value(json_object_get(body, "full_name"))),
        DB_TEXT(json_string_value(json_object_get(body, "profession"))),
        DB_TEXT(json_string_value(json_object_get(body, "target_grade"))),
        DB_TEXT(json_string_value(json_object_get(body, "exam_date"))),
        DB_TEXT(json_string_value(json_object_get(body, "first_language"))),
        DB_TEXT(json_string_value(json_object_get(body, "country"))),
        DB_TEXT(now),
    };
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = db_exec(c,
                     "INSERT INTO users (id, email, password_hash, full_name, profession, "
                     "target_grade, exam_date, first_language, country, created_at, updated_at) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                     p, ARRAY_LEN(p), NULL);
    if (rc == DB_ECONSTRAINT) {
        db_rollback(c);
        db_release(c);
        http_res_problem_full(req, res, 409, "email-taken", "Email Already Registered",
                              "An account with this email already exists. Sign in or reset "
                              "the password.", NULL);
        goto out;
    }
    if (rc == DB_OK)
        rc = user_send_email_token(req, c, id, email,
                                   json_string_value(json_object_get(body, "full_name")),
                                   "verify");
    if (rc != DB_OK) {
        db_rollback(c);
        service_db_failed(req, res, c, "register");
        db_release(c);
        goto out;
    }
    sign_in(req, res, c, id, ROLE_CANDIDATE, "user.register", 201);
    if (res->status == 201)
        http_res_header(req, res, "Location", "/v1/users/me");
    app_kick_outbox(req->app);
out:
    json_decref(errors);
    json_decref(body);
}

/* ---- login --------------------------------------------------------------------------- */

static const json_field_spec login_spec[] = {
    {.name = "email", .type = JF_STRING, .required = 1, .max_len = 254},
    {.name = "password", .type = JF_STRING, .required = 1, .max_len = PASSWORD_MAX},
};

static void auth_login(http_req *req, http_res *res)
{
    json_t *errors = NULL;
    json_t *body = read_body(req, res, login_spec, ARRAY_LEN(login_spec), &errors);
    if (!body)
        return;
    if (answer_if_errors(req, res, errors))
        goto out;
    const char *password = json_string_value(json_object_get(body, "password"));
    char email[EMAIL_MAX + 1] = "";
    const char *why;
    int email_ok = email_normalize(json_string_value(json_object_get(body, "email")), email,
                                   sizeof(email), &why) == 0;
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        goto out;
    char id[UUID_STR_LEN] = "", hash[crypto_pwhash_STRBYTES] = "";
    unsigned role = 0;
    int disabled = 0, found = 0;
    if (email_ok) {
        const db_param p[] = {DB_TEXT(email)};
        db_rows *r = NULL;
        if (db_query(c,
                     "SELECT id, password_hash, role, disabled FROM users "
                     "WHERE email = $1 AND deleted_at IS NULL",
                     p, 1, &r) != DB_OK) {
            service_db_failed(req, res, c, "login lookup");
            db_release(c);
            goto out;
        }
        if (db_rows_next(r) == 1) {
            found = 1;
            snprintf(id, sizeof(id), "%s", db_col_text(r, 0));
            snprintf(hash, sizeof(hash), "%s", db_col_text(r, 1));
            role = role_parse(db_col_text(r, 2));
            disabled = (int)db_col_int(r, 3);
        }
        db_rows_free(r);
    }
    int ok;
    if (found) {
        ok = password_verify(hash, password) == 0;
    } else {
        password_burn_time(password); /* same cost as a wrong password: no account oracle */
        ok = 0;
    }
    int rc = db_begin(c);
    if (rc != DB_OK) {
        service_db_failed(req, res, c, "login");
        db_release(c);
        goto out;
    }
    if (!ok || disabled) {
        audit_simple(c, req, disabled && ok ? "auth.login_disabled" : "auth.login_failed", NULL,
                     found ? id : NULL, json_pack("{s:s}", "email", email_ok ? email : "(invalid)"));
        if (db_commit(c) != DB_OK)
            db_rollback(c);
        db_release(c);
        if (ok && disabled)
            http_res_problem_full(req, res, 403, "account-disabled", "Account Disabled",
                                  "This account is disabled. Contact support.", NULL);
        else
            invalid_credentials(req, res);
        goto out;
    }
    if (password_needs_rehash(hash)) {
        char fresh[crypto_pwhash_STRBYTES];
        if (password_hash(password, fresh) == 0) {
            const db_param up[] = {DB_TEXT(fresh), DB_TEXT(id)};
            rc = db_exec(c, "UPDATE users SET password_hash = $1 WHERE id = $2", up, 2, NULL);
        }
    }
    if (rc != DB_OK) {
        db_rollback(c);
        service_db_failed(req, res, c, "login");
        db_release(c);
        goto out;
    }
    sign_in(req, res, c, id, role, "auth.login", 200);
out:
    json_decref(errors);
    json_decref(body);
}

/* ---- refresh and logout ------------------------------------------------------------- */

static const json_field_spec refresh_spec[] = {
    {.name = "refresh_token", .type = JF_STRING, .required = 1, .max_len = 128},
};

static void refresh_failed(http_req *req, http_res *res, const char *detail)
{
    http_res_problem_full(req, res, 401, "invalid-refresh-token", "Invalid Refresh Token", detail,
                          NULL);
}

/* A spent token came back: someone holds a copy. The whole family is signed out. */
static void refresh_reuse(http_req *req, http_res *res, db_conn *c, const char *user_id,
                          const char *family)
{
    char now[32];
    now_rfc3339(now);
    const db_param p[] = {DB_TEXT(now), DB_TEXT(family)};
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = db_exec(c,
                     "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND "
                     "revoked_at IS NULL",
                     p, 2, NULL);
    if (rc == DB_OK)
        audit_simple(c, req, "auth.refresh_reuse", user_id, user_id,
                     json_pack("{s:s}", "family_id", family));
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK) {
        db_rollback(c);
        log_error("refresh reuse: revoking family failed: %s", db_errmsg(c));
    }
    refresh_failed(req, res,
                   "This refresh token was already used. For your safety every session of this "
                   "sign-in has been signed out; please sign in again.");
}

static void auth_refresh(http_req *req, http_res *res)
{
    json_t *errors = NULL;
    json_t *body = read_body(req, res, refresh_spec, ARRAY_LEN(refresh_spec), &errors);
    if (!body)
        return;
    if (answer_if_errors(req, res, errors))
        goto out;
    char hash[TOKEN_HASH_LEN];
    if (token_hash(json_string_value(json_object_get(body, "refresh_token")), hash) != 0) {
        refresh_failed(req, res, "The refresh token is invalid.");
        goto out;
    }
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        goto out;
    const db_param p[] = {DB_TEXT(hash)};
    db_rows *r = NULL;
    if (db_query(c,
                 "SELECT t.id, t.user_id, t.family_id, t.expires_at, t.revoked_at, "
                 "t.replaced_by, u.role, u.disabled, u.deleted_at FROM refresh_tokens t "
                 "JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
                 p, 1, &r) != DB_OK) {
        service_db_failed(req, res, c, "refresh lookup");
        db_release(c);
        goto out;
    }
    if (db_rows_next(r) != 1) {
        db_rows_free(r);
        db_release(c);
        refresh_failed(req, res, "The refresh token is invalid.");
        goto out;
    }
    char tid[UUID_STR_LEN], uid[UUID_STR_LEN], fam[UUID_STR_LEN], exp[40], now[32];
    snprintf(tid, sizeof(tid), "%s", db_col_text(r, 0));
    snprintf(uid, sizeof(uid), "%s", db_col_text(r, 1));
    snprintf(fam, sizeof(fam), "%s", db_col_text(r, 2));
    snprintf(exp, sizeof(exp), "%s", db_col_text(r, 3));
    int revoked = !db_col_is_null(r, 4), replaced = !db_col_is_null(r, 5);
    unsigned role = role_parse(db_col_text(r, 6));
    int disabled = (int)db_col_int(r, 7), deleted = !db_col_is_null(r, 8);
    db_rows_free(r);
    now_rfc3339(now);
    if (replaced) {
        refresh_reuse(req, res, c, uid, fam);
        db_release(c);
        goto out;
    }
    if (revoked || deleted || strcmp(exp, now) <= 0) {
        db_release(c);
        refresh_failed(req, res, "The refresh token has expired or was revoked; sign in again.");
        goto out;
    }
    if (disabled) {
        db_release(c);
        http_res_problem_full(req, res, 403, "account-disabled", "Account Disabled",
                              "This account is disabled. Contact support.", NULL);
        goto out;
    }
    json_t *tokens = NULL;
    char new_id[UUID_STR_LEN];
    int64_t affected = 0;
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = user_issue_tokens(req, c, uid, role, fam, new_id, &tokens);
    if (rc == DB_OK) {
        /* Only one of two concurrent refreshes with the same token can spend it. */
        const db_param up[] = {DB_TEXT(now), DB_TEXT(new_id), DB_TEXT(tid)};
        rc = db_exec(c,
                     "UPDATE refresh_tokens SET revoked_at = $1, last_used_at = $1, "
                     "replaced_by = $2 WHERE id = $3 AND revoked_at IS NULL AND "
                     "replaced_by IS NULL",
                     up, 3, &affected);
    }
    if (rc == DB_OK && affected != 1) {
        db_rollback(c);
        json_decref(tokens);
        refresh_reuse(req, res, c, uid, fam);
        db_release(c);
        goto out;
    }
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK) {
        db_rollback(c);
        json_decref(tokens);
        service_db_failed(req, res, c, "refresh");
        db_release(c);
        goto out;
    }
    db_release(c);
    http_res_json(req, res, 200, tokens);
out:
    json_decref(errors);
    json_decref(body);
}

static void auth_logout(http_req *req, http_res *res)
{
    json_t *errors = NULL;
    json_t *body = read_body(req, res, refresh_spec, ARRAY_LEN(refresh_spec), &errors);
    if (!body)
        return;
    if (answer_if_errors(req, res, errors))
        goto out;
    char hash[TOKEN_HASH_LEN];
    /* Unknown or malformed tokens are already "logged out": 204 either way. */
    if (token_hash(json_string_value(json_object_get(body, "refresh_token")), hash) == 0) {
        db_conn *c = service_db_acquire(req, res);
        if (!c)
            goto out;
        char now[32];
        now_rfc3339(now);
        const db_param p[] = {DB_TEXT(now), DB_TEXT(hash)};
        if (db_exec(c,
                    "UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND "
                    "family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $2)",
                    p, 2, NULL) != DB_OK) {
            service_db_failed(req, res, c, "logout");
            db_release(c);
            goto out;
        }
        db_release(c);
    }
    http_res_bytes(req, res, 204, "application/json", NULL, 0);
out:
    json_decref(errors);
    json_decref(body);
}

/* ---- email verification and password reset --------------------------------------------- */

static const json_field_spec token_spec[] = {
    {.name = "token", .type = JF_STRING, .required = 1, .max_len = 128},
};

/* Spends an email token of purpose; *user_id gets its owner. 1 spent, 0 invalid, -1 DB error.
 * Runs inside the caller's transaction. */
static int spend_email_token(db_conn *c, const char *token, const char *purpose,
                             char user_id[UUID_STR_LEN])
{
    char hash[TOKEN_HASH_LEN], now[32];
    if (token_hash(token, hash) != 0)
        return 0;
    now_rfc3339(now);
    const db_param p[] = {DB_TEXT(hash), DB_TEXT(purpose), DB_TEXT(now)};
    db_rows *r = NULL;
    if (db_query(c,
                 "SELECT id, user_id FROM email_tokens WHERE token_hash = $1 AND purpose = $2 "
                 "AND used_at IS NULL AND expires_at > $3",
                 p, 3, &r) != DB_OK)
        return -1;
    if (db_rows_next(r) != 1) {
        db_rows_free(r);
        return 0;
    }
    char tid[UUID_STR_LEN];
    snprintf(tid, sizeof(tid), "%s", db_col_text(r, 0));
    snprintf(user_id, UUID_STR_LEN, "%s", db_col_text(r, 1));
    db_rows_free(r);
    int64_t affected = 0;
    const db_param up[] = {DB_TEXT(now), DB_TEXT(tid)};
    if (db_exec(c, "UPDATE email_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL", up,
                2, &affected) != DB_OK)
        return -1;
    return affected == 1 ? 1 : 0;
}

static void auth_verify_email(http_req *req, http_res *res)
{
    json_t *errors = NULL;
    json_t *body = read_body(req, res, token_spec, ARRAY_LEN(token_spec), &errors);
    if (!body)
        return;
    if (answer_if_errors(req, res, errors))
        goto out;
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        goto out;
    char uid[UUID_STR_LEN], now[32];
    now_rfc3339(now);
    int rc = db_begin(c);
    int spent = rc == DB_OK ? spend_email_token(c, json_string_value(json_object_get(body, "token")),
                                                "verify", uid)
                            : -1;
    if (spent == 1) {
        const db_param p[] = {DB_TEXT(now), DB_TEXT(uid)};
        rc = db_exec(c, "UPDATE users SET email_verified = TRUE, updated_at = $1 WHERE id = $2",
                     p, 2, NULL);
        if (rc == DB_OK)
            audit_simple(c, req, "user.email_verified", uid, uid, NULL);
        if (rc == DB_OK)
            rc = db_commit(c);
    }
    if (spent < 0 || rc != DB_OK) {
        db_rollback(c);
        service_db_failed(req, res, c, "verify email");
    } else if (spent == 0) {
        db_rollback(c);
        invalid_token(req, res);
    } else {
        http_res_bytes(req, res, 204, "application/json", NULL, 0);
    }
    db_release(c);
out:
    json_decref(errors);
    json_decref(body);
}

static void auth_resend_verification(http_req *req, http_res *res)
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    const db_param p[] = {DB_TEXT(req->user_id)};
    db_rows *r = NULL;
    if (db_query(c, "SELECT email, full_name, email_verified FROM users WHERE id = $1", p, 1, &r) !=
            DB_OK ||
        db_rows_next(r) != 1) {
        db_rows_free(r);
        service_db_failed(req, res, c, "resend verification");
        db_release(c);
        return;
    }
    char email[EMAIL_MAX + 1], name[512];
    snprintf(email, sizeof(email), "%s", db_col_text(r, 0));
    snprintf(name, sizeof(name), "%s", db_col_text(r, 1));
    int verified = (int)db_col_int(r, 2);
    db_rows_free(r);
    if (verified) {
        db_release(c);
        http_res_problem_full(req, res, 409, "already-verified", "Already Verified",
                              "This email address is already verified.", NULL);
        return;
    }
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = user_send_email_token(req, c, req->user_id, email, name, "verify");
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK) {
        db_rollback(c);
        service_db_failed(req, res, c, "resend verification");
        db_release(c);
        return;
    }
    db_release(c);
    app_kick_outbox(req->app);
    http_res_json(req, res, 202, json_pack("{s:s}", "status", "queued"));
}

static const json_field_spec forgot_spec[] = {
    {.name = "email", .type = JF_STRING, .required = 1, .max_len = 254},
};

static void auth_forgot_password(http_req *req, http_res *res)
{
    json_t *errors = NULL;
    json_t *body = read_body(req, res, forgot_spec, ARRAY_LEN(forgot_spec), &errors);
    if (!body)
        return;
    if (answer_if_errors(req, res, errors))
        goto out;
    char email[EMAIL_MAX + 1];
    const char *why;
    /* The answer is the same whatever happens below: no account enumeration. */
    if (email_normalize(json_string_value(json_object_get(body, "email")), email, sizeof(email),
                        &why) == 0) {
        db_conn *c = db_acquire(((app *)req->app)->db);
        if (c) {
            const db_param p[] = {DB_TEXT(email)};
            db_rows *r = NULL;
            char uid[UUID_STR_LEN] = "", name[512] = "";
            if (db_query(c,
                         "SELECT id, full_name FROM users WHERE email = $1 AND disabled = FALSE "
                         "AND deleted_at IS NULL",
                         p, 1, &r) == DB_OK &&
                db_rows_next(r) == 1) {
                snprintf(uid, sizeof(uid), "%s", db_col_text(r, 0));
                snprintf(name, sizeof(name), "%s", db_col_text(r, 1));
            }
            db_rows_free(r);
            if (uid[0]) {
                int rc = db_begin(c);
                if (rc == DB_OK)
                    rc = user_send_email_token(req, c, uid, email, name, "reset");
                if (rc == DB_OK)
                    audit_simple(c, req, "user.password_reset_requested", NULL, uid, NULL);
                if (rc == DB_OK)
                    rc = db_commit(c);
                if (rc != DB_OK) {
                    db_rollback(c);
                    log_error("forgot-password: %s", db_errmsg(c));
                }
                app_kick_outbox(req->app);
            }
            db_release(c);
        }
    }
    http_res_json(req, res, 202, json_pack("{s:s}", "status", "queued"));
out:
    json_decref(errors);
    json_decref(body);
}

static const json_field_spec reset_spec[] = {
    {.name = "token", .type = JF_STRING, .required = 1, .max_len = 128},
    {.name = "password", .type = JF_STRING, .required = 1},
};

static void auth_reset_password(http_req *req, http_res *res)
{
    json_t *errors = NULL;
    json_t *body = read_body(req, res, reset_spec, ARRAY_LEN(reset_spec), &errors);
    if (!body)
        return;
    if (answer_if_errors(req, res, errors))
        goto out;
    const char *token = json_string_value(json_object_get(body, "token"));
    const char *password = json_string_value(json_object_get(body, "password"));
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        goto out;
    /* Look the owner up first: the policy needs their email, and hashing must not happen
     * inside the write transaction. */
    char hash_tok[TOKEN_HASH_LEN], now[32], email[EMAIL_MAX + 1] = "";
    now_rfc3339(now);
    if (token_hash(token, hash_tok) == 0) {
        const db_param p[] = {DB_TEXT(hash_tok), DB_TEXT(now)};
        db_rows *r = NULL;
        if (db_query(c,
                     "SELECT u.email FROM email_tokens t JOIN users u ON u.id = t.user_id WHERE "
                     "t.token_hash = $1 AND t.purpose = 'reset' AND t.used_at IS NULL AND "
                     "t.expires_at > $2",
                     p, 2, &r) == DB_OK &&
            db_rows_next(r) == 1)
            snprintf(email, sizeof(email), "%s", db_col_text(r, 0));
        db_rows_free(r);
    }
    if (!email[0]) {
        db_release(c);
        invalid_token(req, res);
        goto out;
    }
    const char *why;
    if (password_check_policy(password, email, &why) != 0) {
        db_release(c);
        json_errors_add(errors, "password", why);
        answer_if_errors(req, res, errors);
        goto out;
    }
    char hash[crypto_pwhash_STRBYTES];
    if (password_hash(password, hash) != 0) {
        db_release(c);
        http_res_problem(req, res, 500, NULL, NULL);
        goto out;
    }
    char uid[UUID_STR_LEN];
    int rc = db_begin(c);
    int spent = rc == DB_OK ? spend_email_token(c, token, "reset", uid) : -1;
    if (spent == 1) {
        const db_param p[] = {DB_TEXT(hash), DB_TEXT(now), DB_TEXT(uid)};
        rc = db_exec(c, "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3", p, 3,
                     NULL);
        if (rc == DB_OK)
            rc = user_revoke_tokens(c, uid, NULL);
        if (rc == DB_OK)
            audit_simple(c, req, "user.password_reset", uid, uid, NULL);
        if (rc == DB_OK)
            rc = db_commit(c);
    }
    if (spent < 0 || rc != DB_OK) {
        db_rollback(c);
        service_db_failed(req, res, c, "reset password");
    } else if (spent == 0) {
        db_rollback(c);
        invalid_token(req, res);
    } else {
        http_res_bytes(req, res, 204, "application/json", NULL, 0);
    }
    db_release(c);
out:
    json_decref(errors);
    json_decref(body);
}

/* ---- the route table ----------------------------------------------------------------- */

static const rate_rule register_limits[] = {
    {.name = "register-ip", .limit = 5, .window_s = 60, .key = RL_KEY_IP},
    {.name = NULL},
};
static const rate_rule login_limits[] = {
    {.name = "login-ip-email", .limit = 10, .window_s = 60, .key = RL_KEY_IP_EMAIL},
    {.name = "login-ip", .limit = 100, .window_s = 60, .key = RL_KEY_IP},
    {.name = NULL},
};
static const rate_rule refresh_limits[] = {
    {.name = "refresh-ip", .limit = 120, .window_s = 60, .key = RL_KEY_IP},
    {.name = NULL},
};
static const rate_rule forgot_limits[] = {
    {.name = "forgot-email", .limit = 3, .window_s = 3600, .key = RL_KEY_EMAIL},
    {.name = "forgot-ip", .limit = 30, .window_s = 3600, .key = RL_KEY_IP},
    {.name = NULL},
};
static const rate_rule token_limits[] = {
    {.name = "email-token-ip", .limit = 30, .window_s = 600, .key = RL_KEY_IP},
    {.name = NULL},
};
static const rate_rule resend_limits[] = {
    {.name = "resend-user", .limit = 3, .window_s = 3600, .key = RL_KEY_USER},
    {.name = NULL},
};

static const int c_register[] = {201, 400, 409, 413, 415, 422, 429, 0};
static const int c_login[] = {200, 400, 401, 403, 422, 429, 0};
static const int c_refresh[] = {200, 400, 401, 403, 422, 429, 0};
static const int c_logout[] = {204, 400, 422, 0};
static const int c_token[] = {204, 400, 422, 429, 0};
static const int c_resend[] = {202, 401, 403, 409, 429, 0};
static const int c_forgot[] = {202, 400, 422, 429, 0};

static const route_def auth_routes[] = {
    {.method = HTTP_POST, .path = "/v1/auth/register", .handler = auth_register,
     .service = "users", .tag = "auth", .body = BODY_JSON, .responses = c_register,
     .summary = "Create an account; returns the user and a token pair",
     .rate_limits = register_limits},
    {.method = HTTP_POST, .path = "/v1/auth/login", .handler = auth_login, .service = "users",
     .tag = "auth", .body = BODY_JSON, .responses = c_login,
     .summary = "Sign in with email and password", .rate_limits = login_limits},
    {.method = HTTP_POST, .path = "/v1/auth/refresh", .handler = auth_refresh,
     .service = "users", .tag = "auth", .body = BODY_JSON, .responses = c_refresh,
     .summary = "Trade a refresh token for a new pair (the old one is spent)",
     .rate_limits = refresh_limits},
    {.method = HTTP_POST, .path = "/v1/auth/logout", .handler = auth_logout, .service = "users",
     .tag = "auth", .body = BODY_JSON, .responses = c_logout,
     .summary = "Revoke a refresh token and its sign-in"},
    {.method = HTTP_POST, .path = "/v1/auth/verify-email", .handler = auth_verify_email,
     .service = "users", .tag = "auth", .body = BODY_JSON, .responses = c_token,
     .summary = "Confirm the email address with the emailed token",
     .rate_limits = token_limits},
    {.method = HTTP_POST, .path = "/v1/auth/resend-verification",
     .handler = auth_resend_verification, .service = "users", .tag = "auth",
     .responses = c_resend, .summary = "Send the verification email again", .auth = AUTH_USER,
     .rate_limits = resend_limits},
    {.method = HTTP_POST, .path = "/v1/auth/forgot-password", .handler = auth_forgot_password,
     .service = "users", .tag = "auth", .body = BODY_JSON, .responses = c_forgot,
     .summary = "Email a password-reset link (always 202)", .rate_limits = forgot_limits},
    {.method = HTTP_POST, .path = "/v1/auth/reset-password", .handler = auth_reset_password,
     .service = "users", .tag = "auth", .body = BODY_JSON, .responses = c_token,
     .summary = "Set a new password with the emailed token; signs out every session",
     .rate_limits = token_limits},
};

int users_register_auth_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, auth_routes);
}

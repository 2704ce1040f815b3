/* Pieces every users route needs: the profile shape, tokens, emails, field rules. */
#include "services/users/internal.h"

#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "events/email.h"
#include "services/users/jwt.h"
#include "services/users/tokens.h"
#include "services/users/users.h"

#include <stdio.h>
#include <string.h>

static const char *const professions[] = {
    "medicine",      "nursing",     "dentistry", "pharmacy",    "physiotherapy",
    "occupational-therapy", "dietetics", "optometry", "podiatry", "radiography",
    "speech-pathology", "veterinary-science",
};
static const char *const grades[] = {"A", "B", "C+", "C", "D", "E"};

void now_rfc3339(char out[32])
{
    time_format_rfc3339(time_now_ms(), out);
}

void rfc3339_in(int64_t seconds_from_now, char out[32])
{
    time_format_rfc3339(time_now_ms() + seconds_from_now * 1000, out);
}

static json_t *text_or_null(const db_rows *r, size_t i)
{
    const char *v = db_col_text(r, i);
    return v ? json_string(v) : json_null();
}

json_t *user_profile_json(const db_rows *r, int with_admin)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(db_col_text(r, 0)));
    json_object_set_new(o, "email", json_string(db_col_text(r, 1)));
    json_object_set_new(o, "email_verified", json_boolean(db_col_int(r, 2)));
    json_object_set_new(o, "full_name", json_string(db_col_text(r, 3)));
    json_object_set_new(o, "profession", text_or_null(r, 4));
    json_object_set_new(o, "role", json_string(db_col_text(r, 5)));
    json_object_set_new(o, "target_grade", text_or_null(r, 6));
    json_object_set_new(o, "exam_date", text_or_null(r, 7));
    json_object_set_new(o, "first_language", text_or_null(r, 8));
    json_object_set_new(o, "country", text_or_null(r, 9));
    json_object_set_new(o, "created_at", json_string(db_col_text(r, 10)));
    if (with_admin) {
        json_object_set_new(o, "disabled", json_boolean(db_col_int(r, 11)));
        json_object_set_new(o, "deleted_at", text_or_null(r, 12));
    }
    return o;
}

json_t *user_load(db_conn *c, const char *id, int with_admin, int *disabled, unsigned *role,
                  int *dberr)
{
    *dberr = 0;
    if (!id || !id_is_uuid(id, strlen(id)))
        return NULL;
    const db_param p[] = {DB_TEXT(id)};
    db_rows *r = NULL;
    if (db_query(c, "SELECT " USER_PROFILE_COLUMNS " FROM users WHERE id = $1", p, 1, &r) !=
        DB_OK) {
        *dberr = 1;
        return NULL;
    }
    json_t *o = NULL;
    int step = db_rows_next(r);
    if (step == 1 && (with_admin || db_col_is_null(r, 12))) {
        o = user_profile_json(r, with_admin);
        if (disabled)
            *disabled = (int)db_col_int(r, 11);
        if (role)
            *role = role_parse(db_col_text(r, 5));
    } else if (step < 0) {
        *dberr = 1;
    }
    db_rows_free(r);
    return o;
}

int user_issue_tokens(http_req *req, db_conn *c, const char *user_id, unsigned role,
                      const char *family, char new_token_id[37], json_t **out)
{
    app *a = req->app;
    char id[UUID_STR_LEN], fam[UUID_STR_LEN], tok[TOKEN_STR_LEN], hash[TOKEN_HASH_LEN];
    char now[32], exp[32];
    id_uuid7(id);
    if (family)
        snprintf(fam, sizeof(fam), "%s", family);
    else
        id_uuid7(fam);
    token_new(tok);
    if (token_hash(tok, hash) != 0)
        return DB_ERROR;
    now_rfc3339(now);
    rfc3339_in(a->cfg->refresh_ttl_s, exp);
    const char *ua = http_req_header(req, "User-Agent");
    char ua_cut[256] = "";
    if (ua)
        snprintf(ua_cut, sizeof(ua_cut), "%s", ua);
    const db_param p[] = {DB_TEXT(id),  DB_TEXT(user_id), DB_TEXT(fam),           DB_TEXT(hash),
                          DB_TEXT(exp), DB_TEXT(now),     DB_TEXT(req->remote_ip), DB_TEXT(ua ? ua_cut : NULL)};
    int rc = db_exec(c,
                     "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, "
                     "created_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                     p, ARRAY_LEN(p), NULL);
    if (rc != DB_OK)
        return rc;
    if (new_token_id)
        memcpy(new_token_id, id, UUID_STR_LEN);
    char *access = NULL;
    if (jwt_issue(a->keys, user_id, role, fam, time_now_ms() / 1000, a->cfg->access_ttl_s,
                  &access) != 0)
        return DB_ERROR;
    *out = json_pack("{s:s, s:s, s:s, s:i}", "access_token", access, "refresh_token", tok,
                     "token_type", "Bearer", "expires_in", a->cfg->access_ttl_s);
    free(access);
    return *out ? DB_OK : DB_ERROR;
}

int user_send_email_token(http_req *req, db_conn *c, const char *user_id, const char *email,
                          const char *full_name, const char *purpose)
{
    app *a = req->app;
    int verify = strcmp(purpose, "verify") == 0;
    char id[UUID_STR_LEN], tok[TOKEN_STR_LEN], hash[TOKEN_HASH_LEN], now[32], exp[32];
    id_uuid7(id);
    token_new(tok);
    if (token_hash(tok, hash) != 0)
        return DB_ERROR;
    now_rfc3339(now);
    rfc3339_in(verify ? a->cfg->verify_ttl_s : a->cfg->reset_ttl_s, exp);
    const db_param p[] = {DB_TEXT(id),  DB_TEXT(user_id), DB_TEXT(purpose),
                          DB_TEXT(hash), DB_TEXT(exp),    DB_TEXT(now)};
    int rc = db_exec(c,
                     "INSERT INTO email_tokens (id, user_id, purpose, token_hash, expires_at, "
                     "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                     p, ARRAY_LEN(p), NULL);
    if (rc != DB_OK)
        return rc;
    char link[512], body[2048];
    snprintf(link, sizeof(link), "%s/%s?token=%s", a->cfg->public_url,
             verify ? "verify-email" : "reset-password", tok);
    if (verify)
        snprintf(body, sizeof(body),
                 "Hello %s,\n\nWelcome to OET Praxis. Please confirm your email address by "
                 "opening this link:\n\n%s\n\nThe link works once and expires in %d hours. If you "
                 "did not create an account, you can ignore this message.\n\nOET Praxis\n",
                 full_name, link, a->cfg->verify_ttl_s / 3600 ? a->cfg->verify_ttl_s / 3600 : 1);
    else
        snprintf(body, sizeof(body),
                 "Hello %s,\n\nSomeone (we hope you) asked to reset the password of your OET "
                 "Praxis account. Choose a new password here:\n\n%s\n\nThe link works once and "
                 "expires in %d minutes. If you did not ask for this, ignore this message: your "
                 "password stays as it is.\n\nOET Praxis\n",
                 full_name, link, a->cfg->reset_ttl_s / 60 ? a->cfg->reset_ttl_s / 60 : 1);
    return email_enqueue(c, email,
                         verify ? "Confirm your email address" : "Reset your OET Praxis password",
                         body);
}

int user_revoke_tokens(db_conn *c, const char *user_id, const char *keep_family)
{
    char now[32];
    now_rfc3339(now);
    const db_param p[] = {DB_TEXT(now), DB_TEXT(user_id), DB_TEXT(keep_family)};
    /* The typed comparison comes first so PostgreSQL can infer $3 (a uuid). */
    return db_exec(c,
                   "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND "
                   "revoked_at IS NULL AND (family_id <> $3 OR $3 IS NULL)",
                   p, ARRAY_LEN(p), NULL);
}

static int in_list(const char *v, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, list[i]) == 0)
            return 1;
    return 0;
}

int check_profession(const json_t *v, json_t *errors)
{
    if (!v)
        return 0;
    if (!json_is_string(v) || !in_list(json_string_value(v), professions, ARRAY_LEN(professions))) {
        json_errors_add(errors, "profession",
                        "must be one of medicine, nursing, dentistry, pharmacy, physiotherapy, "
                        "occupational-therapy, dietetics, optometry, podiatry, radiography, "
                        "speech-pathology, veterinary-science");
        return -1;
    }
    return 0;
}

int check_target_grade(const json_t *v, json_t *errors)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || !in_list(json_string_value(v), grades, ARRAY_LEN(grades))) {
        json_errors_add(errors, "target_grade", "must be one of A, B, C+, C, D, E");
        return -1;
    }
    return 0;
}

int check_exam_date(const json_t *v, json_t *errors)
{
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    char full[40];
    int64_t ms;
    /* Years outside 1900-2100 are typos, and PostgreSQL's DATE refuses year 0. */
    if (s && strlen(s) == 10 && strncmp(s, "1900", 4) >= 0 && strncmp(s, "2100", 4) <= 0) {
        snprintf(full, sizeof(full), "%sT00:00:00Z", s);
        if (time_parse_rfc3339(full, &ms) == 0)
            return 0;
    }
    json_errors_add(errors, "exam_date", "must be a date like 2027-03-14 (years 1900-2100)");
    return -1;
}

int check_full_name(const json_t *v, json_t *errors)
{
    if (!v)
        return 0;
    const char *s = json_string_value(v);
    int blank = 1;
    for (const char *p = s; p && *p; p++)
        if (*p != ' ' && *p != '\t')
            blank = 0;
    for (const char *p = s; p && *p; p++)
        if ((unsigned char)*p < 0x20) {
            json_errors_add(errors, "full_name", "must not contain control characters");
            return -1;
        }
    if (!s || blank) {
        json_errors_add(errors, "full_name", "must not be blank");
        return -1;
    }
    return 0;
}

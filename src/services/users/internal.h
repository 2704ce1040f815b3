/* Shared by the users service's route files: profile rows, token issuance, field checks. Not a
 * public contract: other services use users.h. */
#ifndef PRAXIS_SERVICES_USERS_INTERNAL_H
#define PRAXIS_SERVICES_USERS_INTERNAL_H

#include "http/server.h"
#include "services/app.h"
#include "store/db.h"
#include <jansson.h>

/* The columns user_profile_json reads, in order. */
#define USER_PROFILE_COLUMNS                                                                     \
    "id, email, email_verified, full_name, profession, role, target_grade, exam_date, "          \
    "first_language, country, created_at, disabled, deleted_at"

/* The API's profile object from a row selected with USER_PROFILE_COLUMNS. with_admin adds
 * `disabled` and `deleted_at`. */
json_t *user_profile_json(const db_rows *r, int with_admin);

/* Loads a live (not erased) user's profile; NULL when there is none. *disabled and *role (may
 * be NULL) are filled. Returns DB errors as NULL with *dberr = 1. */
json_t *user_load(db_conn *c, const char *id, int with_admin, int *disabled, unsigned *role,
                  int *dberr);

/* Starts (family NULL) or continues a refresh-token family for user_id: stores the hash of a
 * new refresh token and signs an access token carrying the family as `sid`. Runs in the
 * caller's transaction. *out = {access_token, refresh_token, token_type, expires_in};
 * new_token_id (may be NULL) gets the stored row's id. */
int user_issue_tokens(http_req *req, db_conn *c, const char *user_id, unsigned role,
                      const char *family, char new_token_id[37], json_t **out) WUR;

/* Queues a verification (purpose "verify") or reset ("reset") email with a fresh single-use
 * token, in the caller's transaction. */
int user_send_email_token(http_req *req, db_conn *c, const char *user_id, const char *email,
                          const char *full_name, const char *purpose) WUR;

/* Revokes every live refresh token of the user except those of keep_family (may be NULL). */
int user_revoke_tokens(db_conn *c, const char *user_id, const char *keep_family) WUR;

/* Field checks shared by register, PATCH /me and admin: append to errors, return 0 if fine. */
int check_profession(const json_t *v, json_t *errors);
int check_target_grade(const json_t *v, json_t *errors);
int check_exam_date(const json_t *v, json_t *errors);
int check_full_name(const json_t *v, json_t *errors);

/* Each route file registers its table. */
int users_register_auth_routes(router *r) WUR;
int users_register_me_routes(router *r) WUR;
int users_register_admin_routes(router *r) WUR;

/* Small helpers. */
void now_rfc3339(char out[32]);
void rfc3339_in(int64_t seconds_from_now, char out[32]);

#endif

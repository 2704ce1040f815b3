/* users_contact: the one read of the users table other services may make (see users.h). */
#include "services/users/users.h"

#include "core/ids.h"

#include <stdio.h>

int users_contact(db_conn *c, const char *user_id, char *email, size_t email_len, char *name,
                  size_t name_len)
{
    if (!user_id || !id_is_uuid(user_id, strlen(user_id)))
        return 0;
    const db_param p[] = {DB_TEXT(user_id)};
    db_rows *r = NULL;
    int rc = db_query(c,
                      "SELECT email, full_name FROM users WHERE id = $1 AND deleted_at IS NULL",
                      p, 1, &r);
    if (rc != DB_OK)
        return rc;
    int found = db_rows_next(r) == 1;
    if (found) {
        snprintf(email, email_len, "%s", db_col_text(r, 0) ? db_col_text(r, 0) : "");
        snprintf(name, name_len, "%s", db_col_text(r, 1) ? db_col_text(r, 1) : "");
    }
    db_rows_free(r);
    return found;
}

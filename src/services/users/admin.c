/* `praxis admin create`: normalises the email, takes or generates a password, hashes it with
 * Argon2id and inserts an administrator in one statement. */
#include "services/users/admin.h"

#include "core/ids.h"
#include "core/timeutil.h"
#include "services/users/password.h"

#include <ctype.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

static int read_line(FILE *in, char *out, size_t outlen)
{
    if (!fgets(out, (int)outlen, in))
        return -1;
    size_t n = strlen(out);
    if (n == outlen - 1 && out[n - 1] != '\n')
        return -1; /* longer than any acceptable password */
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return 0;
}

static void generate_password(char *out, size_t len)
{
    static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    for (size_t i = 0; i + 1 < len; i++)
        out[i] = alphabet[randombytes_uniform((uint32_t)(sizeof(alphabet) - 1))];
    out[len - 1] = '\0';
}

int admin_create_cli(db *d, const char *email_in, const char *full_name, FILE *in, FILE *out,
                     FILE *errout)
{
    char email[EMAIL_MAX + 1];
    const char *why = NULL;
    if (email_normalize(email_in, email, sizeof(email), &why) != 0) {
        fprintf(errout, "praxis admin create: --email: %s\n", why);
        return 2;
    }
    size_t nlen = strlen(full_name);
    if (nlen == 0 || nlen > 120) {
        fprintf(errout, "praxis admin create: --name: must be 1 to 120 characters\n");
        return 2;
    }
    char password[PASSWORD_MAX + 2];
    int generated = 0;
    if (!isatty(fileno(in))) {
        if (read_line(in, password, sizeof(password)) != 0) {
            fprintf(errout, "praxis admin create: could not read a password (one line, at most "
                            "%d characters) from standard input\n", PASSWORD_MAX);
            return 2;
        }
    } else {
        generate_password(password, 21);
        generated = 1;
    }
    if (password_check_policy(password, email, &why) != 0) {
        fprintf(errout, "praxis admin create: password %s\n", why);
        sodium_memzero(password, sizeof(password));
        return 2;
    }
    char hash[crypto_pwhash_STRBYTES];
    if (password_hash(password, hash) != 0) {
        fprintf(errout, "praxis admin create: out of memory while hashing\n");
        sodium_memzero(password, sizeof(password));
        return 1;
    }
    char id[UUID_STR_LEN], now[RFC3339_LEN];
    id_uuid7(id);
    time_format_rfc3339(time_now_ms(), now);
    db_conn *c = db_acquire(d);
    if (!c) {
        fprintf(errout, "praxis admin create: the database is unavailable\n");
        sodium_memzero(password, sizeof(password));
        return 1;
    }
    const db_param p[] = {DB_TEXT(id), DB_TEXT(email), DB_TEXT(hash), DB_TEXT(full_name),
                          DB_TEXT(now)};
    int rc = db_exec(c,
                     "INSERT INTO users (id, email, password_hash, full_name, role, "
                     "email_verified, disabled, created_at, updated_at) "
                     "VALUES ($1, $2, $3, $4, 'admin', TRUE, FALSE, $5, $5)",
                     p, ARRAY_LEN(p), NULL);
    int exit_code = 0;
    if (rc == DB_ECONSTRAINT) {
        fprintf(errout, "praxis admin create: a user with email %s already exists\n", email);
        exit_code = 1;
    } else if (rc != DB_OK) {
        fprintf(errout, "praxis admin create: could not save the user: %s\n", db_errmsg(c));
        exit_code = 1;
    } else {
        fprintf(out, "Administrator created: %s (id %s)\n", email, id);
        if (generated)
            fprintf(out, "Password (shown once, store it now): %s\n", password);
    }
    db_release(c);
    sodium_memzero(password, sizeof(password));
    return exit_code;
}

/* Credentials rules: email normalisation, password policy, Argon2id round trip. */
#include "services/users/password.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void test_email(void **state)
{
    (void)state;
    char out[EMAIL_MAX + 1];
    const char *why;
    assert_int_equal(email_normalize("  Dr.Jane@Example.ORG \n", out, sizeof(out), &why), 0);
    assert_string_equal(out, "dr.jane@example.org");
    assert_null(why);
    const char *bad[] = {"", "   ", "jane", "jane@", "@example.org", "jane@example",
                         "jane@@example.org", "ja ne@example.org", "jane@.example.org",
                         "jane@example..org", "jane@example.", "<jane@example.org>",
                         "jane@exa(mple).org"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(email_normalize(bad[i], out, sizeof(out), &why), -1);
        assert_string_equal(why, "must be a valid email address");
    }
    char longlocal[100];
    memset(longlocal, 'a', 65);
    strcpy(longlocal + 65, "@example.org");
    assert_int_equal(email_normalize(longlocal, out, sizeof(out), &why), -1);
    assert_int_equal(email_normalize(NULL, out, sizeof(out), &why), -1);
}

static void test_policy(void **state)
{
    (void)state;
    const char *why;
    assert_int_equal(password_check_policy("correct horse", "a@b.co", &why), 0);
    assert_int_equal(password_check_policy("short", "a@b.co", &why), -1);
    assert_string_equal(why, "must be at least 10 characters");
    /* Ten characters of UTF-8 is ten characters, not twenty bytes. */
    assert_int_equal(password_check_policy("ééééééééé", NULL, &why), -1);
    assert_int_equal(password_check_policy("éééééééééé", NULL, &why), 0);
    char big[200];
    memset(big, 'x', 129);
    big[129] = '\0';
    assert_int_equal(password_check_policy(big, NULL, &why), -1);
    assert_string_equal(why, "must be at most 128 characters");
    assert_int_equal(password_check_policy("Jane.Doe@Example.org", "jane.doe@example.org", &why), -1);
    assert_string_equal(why, "must not be your email address");
}

static void test_common(void **state)
{
    (void)state;
    const char *why;
    assert_true(password_is_common("qwertyuiop"));
    assert_true(password_is_common("QwertyUIOP"));
    assert_true(password_is_common("1234567890"));
    assert_false(password_is_common("correct horse battery"));
    assert_int_equal(password_check_policy("1234567890", "a@b.co", &why), -1);
    assert_non_null(strstr(why, "too common"));
}

static void test_hash(void **state)
{
    (void)state;
    char hash[crypto_pwhash_STRBYTES];
    assert_int_equal(password_hash("correct horse battery", hash), 0);
    assert_memory_equal(hash, "$argon2id$", 10);
    assert_int_equal(password_verify(hash, "correct horse battery"), 0);
    assert_int_not_equal(password_verify(hash, "correct horse batterx"), 0);
    char hash2[crypto_pwhash_STRBYTES];
    assert_int_equal(password_hash("correct horse battery", hash2), 0);
    assert_string_not_equal(hash, hash2); /* salted */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_common),
        cmocka_unit_test(test_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

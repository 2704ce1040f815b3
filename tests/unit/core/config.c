/* Tests for configuration: defaults, every variable's validation (each error names the
 * variable and is one line), production rules for JWT_SECRET, DATA_DIR creation and
 * writability, and .env parsing. The environment is injected as a table, so the tests do not
 * depend on what the machine running them has set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/config.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[512]; /* short, so paths built from it always fit */
static char data_dir[PATH_MAX + 16];

struct kv {
    const char *k, *v;
};

/* NULL-terminated table lookups; a DATA_DIR entry is added by load() unless the test set one. */
static const char *table_env(const char *name, void *ud)
{
    for (const struct kv *e = ud; e->k; e++)
        if (strcmp(e->k, name) == 0)
            return e->v;
    if (strcmp(name, "DATA_DIR") == 0)
        return data_dir;
    return NULL;
}

static int load(config *c, const struct kv *env, char *err, size_t errlen)
{
    return config_load(c, table_env, (void *)env, err, errlen);
}

static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("PRAXIS_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    if (mkdir(base, 0755) != 0 && access(base, W_OK) != 0)
        return -1;
    (void)snprintf(tmpdir, sizeof(tmpdir), "%s/config-XXXXXX", base);
    if (!mkdtemp(tmpdir))
        return -1;
    (void)snprintf(data_dir, sizeof(data_dir), "%s/data", tmpdir);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_defaults_with_empty_environment(void **state)
{
    (void)state;
    /* DATA_DIR defaults to ./data: run from the temporary directory so it is created there. */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tmpdir), 0);
    static const struct kv empty[] = {{"DATA_DIR", NULL}, {NULL, NULL}};
    config c;
    char err[256] = "";
    int rc = load(&c, empty, err, sizeof(err));
    assert_int_equal(chdir(cwd), 0);
    if (rc != 0)
        fail_msg("config_load failed: %s", err);

    assert_int_equal(c.production, 0);
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 8000);
    assert_string_equal(c.database_url, "sqlite://./data/praxis.db");
    assert_string_equal(c.data_dir, "./data");
    char made[PATH_MAX + 16];
    (void)snprintf(made, sizeof(made), "%s/data", tmpdir);
    struct stat st;
    assert_int_equal(stat(made, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long expect_threads = cpus < 1 ? 2 : cpus * 2 > 256 ? 256 : cpus * 2;
    assert_int_equal(c.http_threads, expect_threads);
    assert_int_equal(c.request_timeout_s, 30);
    assert_int_equal(c.shutdown_grace_s, 10);
    assert_int_equal(c.db_pool_size, 10);
    assert_string_equal(c.public_url, "http://localhost:8000");
    assert_string_equal(c.cors_origins, "");
    assert_int_equal(c.log_level, LOG_INFO);

    /* Outside production a missing JWT_SECRET is generated: 48 random bytes as hex. */
    assert_int_equal(c.jwt_secret_generated, 1);
    assert_int_equal(strlen(c.jwt_secret), 96);
    assert_int_equal(strspn(c.jwt_secret, "0123456789abcdef"), 96);
    config d;
    assert_int_equal(load(&d, (const struct kv[]){{NULL, NULL}}, err, sizeof(err)), 0);
    assert_string_not_equal(c.jwt_secret, d.jwt_secret);
    config_free(&c);
    config_free(&d);
    assert_null(c.host);
}

static void test_all_variables_set(void **state)
{
    (void)state;
    char nested[PATH_MAX + 32];
    (void)snprintf(nested, sizeof(nested), "%s/a/b/c", tmpdir);
    const struct kv env[] = {
        {"PRODUCTION", "Yes"},
        {"HOST", "0.0.0.0"},
        {"PORT", "9090"},
        {"DATABASE_URL", "postgres://praxis:secret@db:5432/praxis"},
        {"DATA_DIR", nested},
        {"HTTP_THREADS", "7"},
        {"REQUEST_TIMEOUT_SECONDS", "3600"},
        {"SHUTDOWN_GRACE_SECONDS", "0"},
        {"DB_POOL_SIZE", "100"},
        {"JWT_SECRET", "0123456789abcdef0123456789abcdef"},
        {"PUBLIC_URL", "https://praxis.example.com/app/"},
        {"CORS_ORIGINS", " https://App.example.com , http://localhost:3000/ ,"},
        {"LOG_LEVEL", "debug"},
        {"DATA_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},
        {"STT_ENGINE", "remote"},
        {"STT_URL", "http://stt.internal:9000/"},
        {"TTS_ENGINE", "flite"},
        {"LLM_BASE_URL", "https://llm.example.com"},
        {"LLM_TIMEOUT_MS", "2500"},
        {"VAD_HANGOVER_SHORT_MS", "300"},
        {"VAD_HANGOVER_LONG_MS", "1200"},
        {"LIVEKIT_URL", "wss://rtc.example.com"},
        {"LIVEKIT_API_KEY", "APIkey"},
        {"LIVEKIT_API_SECRET", "livekit-secret"},
        {"BILLING_PROVIDER", "stripe"},
        {"STRIPE_SECRET_KEY", "sk_test_x"},
        {"STRIPE_WEBHOOK_SECRET", "whsec_a,whsec_b"},
        {"STRIPE_PRICE_STANDARD", "price_std"},
        {"STRIPE_PRICE_PREMIUM", "price_pre"},
        {"BILLING_GRACE_DAYS", "5"},
        {NULL, NULL},
    };
    config c;
    char err[256] = "";
    if (load(&c, env, err, sizeof(err)) != 0)
        fail_msg("config_load failed: %s", err);
    assert_int_equal(c.production, 1);
    assert_string_equal(c.host, "0.0.0.0");
    assert_int_equal(c.port, 9090);
    assert_string_equal(c.database_url, "postgres://praxis:secret@db:5432/praxis");
    assert_string_equal(c.data_dir, nested);
    struct stat st;
    assert_int_equal(stat(nested, &st), 0); /* created with its parents */
    assert_int_equal(c.http_threads, 7);
    assert_int_equal(c.request_timeout_s, 3600);
    assert_int_equal(c.shutdown_grace_s, 0);
    assert_int_equal(c.db_pool_size, 100);
    assert_string_equal(c.jwt_secret, "0123456789abcdef0123456789abcdef");
    assert_int_equal(c.jwt_secret_generated, 0);
    assert_string_equal(c.public_url, "https://praxis.example.com/app");
    assert_string_equal(c.cors_origins, "https://app.example.com,http://localhost:3000");
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_int_equal(c.data_key[0], 0x00);
    assert_int_equal(c.data_key[31], 0x1f);
    assert_int_equal(c.data_key_generated, 0);
    assert_int_equal(c.stt_remote, 1);
    assert_string_equal(c.stt_url, "http://stt.internal:9000");
    assert_int_equal(c.tts_remote, 0);
    assert_string_equal(c.llm_base_url, "https://llm.example.com");
    assert_int_equal(c.llm_timeout_ms, 2500);
    assert_int_equal(c.vad_hangover_short_ms, 300);
    assert_int_equal(c.vad_hangover_long_ms, 1200);
    assert_string_equal(c.livekit_url, "wss://rtc.example.com");
    assert_int_equal(c.billing_stripe, 1);
    assert_string_equal(c.stripe_webhook_secret, "whsec_a,whsec_b");
    assert_string_equal(c.stripe_api_base, "https://api.stripe.com");
    assert_int_equal(c.billing_grace_days, 5);
    config_free(&c);
}

/* Without DATA_KEY outside production a key is generated once into DATA_DIR/data.key and read
 * back on the next start; in production it is required; a bad one is named. */
static void test_data_key(void **state)
{
    (void)state;
    char dir[PATH_MAX + 32];
    (void)snprintf(dir, sizeof(dir), "%s/keyed", tmpdir);
    const struct kv env[] = {{"DATA_DIR", dir}, {NULL, NULL}};
    config a, b;
    char err[256] = "";
    if (load(&a, env, err, sizeof(err)) != 0)
        fail_msg("config_load failed: %s", err);
    assert_int_equal(a.data_key_generated, 1);
    if (load(&b, env, err, sizeof(err)) != 0)
        fail_msg("config_load failed: %s", err);
    assert_memory_equal(a.data_key, b.data_key, sizeof(a.data_key));
    char path[PATH_MAX + 64];
    (void)snprintf(path, sizeof(path), "%s/data.key", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    config_free(&a);
    config_free(&b);
    const struct kv bad[] = {{"DATA_DIR", dir}, {"DATA_KEY", "abc"}, {NULL, NULL}};
    assert_int_equal(load(&a, bad, err, sizeof(err)), -1);
    assert_string_equal(err, "DATA_KEY: must be 64 hex characters or base64 of 32 bytes");
    const struct kv prod[] = {{"DATA_DIR", dir},
                              {"PRODUCTION", "1"},
                              {"JWT_SECRET", "0123456789abcdef0123456789abcdef"},
                              {NULL, NULL}};
    assert_int_equal(load(&a, prod, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "DATA_KEY: is required when PRODUCTION is true"));
    const struct kv stripe[] = {{"DATA_DIR", dir}, {"BILLING_PROVIDER", "stripe"}, {NULL, NULL}};
    assert_int_equal(load(&a, stripe, err, sizeof(err)), -1);
    assert_string_equal(err, "STRIPE_SECRET_KEY: is required when BILLING_PROVIDER is stripe");
    const struct kv remote[] = {{"DATA_DIR", dir}, {"STT_ENGINE", "remote"}, {NULL, NULL}};
    assert_int_equal(load(&a, remote, err, sizeof(err)), -1);
    assert_string_equal(err, "STT_URL: is required when STT_ENGINE is remote");
    const struct kv vad[] = {{"DATA_DIR", dir},
                             {"VAD_HANGOVER_SHORT_MS", "1000"},
                             {"VAD_HANGOVER_LONG_MS", "500"},
                             {NULL, NULL}};
    assert_int_equal(load(&a, vad, err, sizeof(err)), -1);
    assert_string_equal(err, "VAD_HANGOVER_SHORT_MS: must not exceed VAD_HANGOVER_LONG_MS");
}

static void test_accepted_variants(void **state)
{
    (void)state;
    static const struct kv cases[] = {
        {"PRODUCTION", "0"},
        {"PRODUCTION", "false"},
        {"PRODUCTION", "NO"},
        {"PORT", "1"},
        {"PORT", "65535"},
        {"HOST", "::1"},
        {"HOST", "localhost"},
        {"DATABASE_URL", "sqlite:///var/lib/praxis/praxis.db"},
        {"DATABASE_URL", "postgresql://localhost/praxis"},
        {"PUBLIC_URL", "http://127.0.0.1:8000"},
        {"PUBLIC_URL", "https://[::1]:8443/"},
        {"CORS_ORIGINS", "*"},
        {"CORS_ORIGINS", " * "},
        {"JWT_SECRET", "short"}, /* allowed outside production */
        {"LOG_LEVEL", "ERROR"},
        {"PORT", ""}, /* empty means unset */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct kv env[] = {cases[i], {NULL, NULL}};
        config c;
        char err[256] = "";
        if (load(&c, env, err, sizeof(err)) != 0)
            fail_msg("%s=\"%s\" was rejected: %s", cases[i].k, cases[i].v, err);
        config_free(&c);
    }
}

static void test_invalid_values_name_the_variable(void **state)
{
    (void)state;
    char file_path[PATH_MAX + 16];
    (void)snprintf(file_path, sizeof(file_path), "%s/plain-file", tmpdir);
    FILE *f = fopen(file_path, "w");
    assert_non_null(f);
    assert_int_equal(fclose(f), 0);

    const struct kv cases[] = {
        {"PRODUCTION", "maybe"},
        {"PRODUCTION", "2"},
        {"HOST", "bad host"},
        {"HOST", "a/b"},
        {"PORT", "80a"},
        {"PORT", "0"},
        {"PORT", "65536"},
        {"PORT", "-1"},
        {"PORT", " 80"},
        {"PORT", "+80"},
        {"PORT", "0x50"},
        {"PORT", "99999999999999999999999"},
        {"DATABASE_URL", "mysql://localhost/db"},
        {"DATABASE_URL", "sqlite://"},
        {"DATABASE_URL", "./praxis.db"},
        {"DATA_DIR", "/etc/passwd/x"},
        {"DATA_DIR", file_path},
        {"HTTP_THREADS", "0"},
        {"HTTP_THREADS", "257"},
        {"REQUEST_TIMEOUT_SECONDS", "0"},
        {"REQUEST_TIMEOUT_SECONDS", "3601"},
        {"SHUTDOWN_GRACE_SECONDS", "-1"},
        {"SHUTDOWN_GRACE_SECONDS", "601"},
        {"DB_POOL_SIZE", "0"},
        {"DB_POOL_SIZE", "101"},
        {"DB_POOL_SIZE", "1.5"},
        {"PUBLIC_URL", "ftp://example.com"},
        {"PUBLIC_URL", "http://"},
        {"PUBLIC_URL", "localhost:8000"},
        {"PUBLIC_URL", "http://a b"},
        {"PUBLIC_URL", "http://example.com:0"},
        {"PUBLIC_URL", "http://example.com:99999"},
        {"PUBLIC_URL", "http://user@example.com"},
        {"PUBLIC_URL", "http://example.com/?q=1"},
        {"CORS_ORIGINS", "example.com"},
        {"CORS_ORIGINS", "https://a.com/path"},
        {"CORS_ORIGINS", "https://a.com, ftp://b.com"},
        {"CORS_ORIGINS", "*,https://a.com"},
        {"LOG_LEVEL", "verbose"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct kv env[] = {cases[i], {NULL, NULL}};
        config c;
        char err[256] = "";
        if (load(&c, env, err, sizeof(err)) == 0)
            fail_msg("%s=\"%s\" was accepted", cases[i].k, cases[i].v);
        char prefix[64];
        (void)snprintf(prefix, sizeof(prefix), "%s: ", cases[i].k);
        if (strncmp(err, prefix, strlen(prefix)) != 0)
            fail_msg("%s=\"%s\": error does not name the variable: %s", cases[i].k, cases[i].v,
                     err);
        assert_null(strchr(err, '\n'));
        /* On error nothing is left allocated or half set. */
        assert_null(c.host);
        assert_null(c.jwt_secret);
        assert_int_equal(c.port, 0);
    }
}

static void test_exact_messages(void **state)
{
    (void)state;
    config c;
    char err[256];
    assert_int_equal(load(&c, (const struct kv[]){{"PORT", "80a"}, {NULL, NULL}}, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "PORT: \"80a\" is not an integer between 1 and 65535");
    assert_int_equal(
        load(&c, (const struct kv[]){{"LOG_LEVEL", "loud"}, {NULL, NULL}}, err, sizeof(err)), -1);
    assert_string_equal(err, "LOG_LEVEL: \"loud\" is not one of debug, info, warn, error");
    assert_int_equal(load(&c, (const struct kv[]){{"DATA_DIR", "/etc/passwd/x"}, {NULL, NULL}}, err,
                          sizeof(err)),
                     -1);
    assert_string_equal(err, "DATA_DIR: \"/etc/passwd/x\" cannot be created: Not a directory");
    /* Control characters are shown escaped so the message stays on one line. */
    assert_int_equal(
        load(&c, (const struct kv[]){{"PORT", "8\n0"}, {NULL, NULL}}, err, sizeof(err)), -1);
    assert_string_equal(err, "PORT: \"8\\x0a0\" is not an integer between 1 and 65535");
    /* A small error buffer truncates instead of overflowing. */
    char tiny[8];
    assert_int_equal(
        load(&c, (const struct kv[]){{"PORT", "80a"}, {NULL, NULL}}, tiny, sizeof(tiny)), -1);
    assert_string_equal(tiny, "PORT: \"");
}

static void test_secrets_are_never_echoed(void **state)
{
    (void)state;
    config c;
    char err[256];
    assert_int_equal(
        load(&c, (const struct kv[]){{"DATABASE_URL", "mysql://user:hunter2@db/x"}, {NULL, NULL}},
             err, sizeof(err)),
        -1);
    assert_non_null(strstr(err, "DATABASE_URL"));
    assert_null(strstr(err, "hunter2"));
    assert_int_equal(load(&c,
                          (const struct kv[]){{"PRODUCTION", "true"},
                                              {"JWT_SECRET", "tooshortsecret"},
                                              {NULL, NULL}},
                          err, sizeof(err)),
                     -1);
    assert_null(strstr(err, "tooshortsecret"));
}

static void test_production_requires_a_long_jwt_secret(void **state)
{
    (void)state;
    config c;
    char err[256];
    assert_int_equal(
        load(&c, (const struct kv[]){{"PRODUCTION", "true"}, {NULL, NULL}}, err, sizeof(err)), -1);
    assert_string_equal(err, "JWT_SECRET: is required when PRODUCTION is true");

    char secret[CONFIG_JWT_SECRET_MIN + 1];
    memset(secret, 'k', sizeof(secret) - 1);
    secret[CONFIG_JWT_SECRET_MIN - 1] = '\0'; /* one byte short */
    const struct kv short_env[] = {{"PRODUCTION", "1"}, {"JWT_SECRET", secret}, {NULL, NULL}};
    assert_int_equal(load(&c, short_env, err, sizeof(err)), -1);
    assert_string_equal(err, "JWT_SECRET: must be at least 32 bytes when PRODUCTION is true");

    secret[CONFIG_JWT_SECRET_MIN - 1] = 'k';
    secret[CONFIG_JWT_SECRET_MIN] = '\0';
    const struct kv ok_env[] = {
        {"PRODUCTION", "1"},
        {"JWT_SECRET", secret},
        {"DATA_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
        {NULL, NULL}};
    assert_int_equal(load(&c, ok_env, err, sizeof(err)), 0);
    assert_int_equal(c.jwt_secret_generated, 0);
    assert_string_equal(c.jwt_secret, secret);
    config_free(&c);
}

static void test_reads_process_environment_by_default(void **state)
{
    (void)state;
    static const char *const vars[] = {"PRODUCTION",
                                       "HOST",
                                       "PORT",
                                       "DATABASE_URL",
                                       "DATA_DIR",
                                       "HTTP_THREADS",
                                       "REQUEST_TIMEOUT_SECONDS",
                                       "SHUTDOWN_GRACE_SECONDS",
                                       "DB_POOL_SIZE",
                                       "JWT_SECRET",
                                       "PUBLIC_URL",
                                       "CORS_ORIGINS",
                                       "LOG_LEVEL"};
    for (size_t i = 0; i < ARRAY_LEN(vars); i++)
        assert_int_equal(unsetenv(vars[i]), 0);
    assert_int_equal(setenv("PORT", "4321", 1), 0);
    assert_int_equal(setenv("DATA_DIR", data_dir, 1), 0);
    config c;
    char err[256] = "";
    if (config_load(&c, NULL, NULL, err, sizeof(err)) != 0)
        fail_msg("config_load failed: %s", err);
    assert_int_equal(c.port, 4321);
    config_free(&c);
    assert_int_equal(unsetenv("PORT"), 0);
    assert_int_equal(unsetenv("DATA_DIR"), 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void expect_env(const char *name, const char *value)
{
    const char *v = getenv(name);
    if (!v)
        fail_msg("%s is not set", name);
    assert_string_equal(v, value);
}

static void test_dotenv_parsing(void **state)
{
    (void)state;
    char path[PATH_MAX + 16];
    (void)snprintf(path, sizeof(path), "%s/good.env", tmpdir);
    write_file(path, "# a comment\n"
                     "\n"
                     "export PXT_A=plain value   # trailing comment\n"
                     "PXT_B='single #not a comment \\n literal'\n"
                     "PXT_C=\"double \\\"quoted\\\"\\nnext\\\\slash\"  # comment\n"
                     "  PXT_D = spaced  \n"
                     "PXT_E=a#b\n"
                     "PXT_F=\n"
                     "PXT_G=from-file\n"
                     "PXT_H=first\n"
                     "PXT_H=second\r\n"
                     "PXT_I=\"with = and 'single' inside\"\n"
                     "\t# indented comment\n"
                     "PXT_J= #only a comment\n");
    static const char *const names[] = {"PXT_A", "PXT_B", "PXT_C", "PXT_D", "PXT_E",
                                        "PXT_F", "PXT_H", "PXT_I", "PXT_J"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        assert_int_equal(unsetenv(names[i]), 0);
    assert_int_equal(setenv("PXT_G", "from-env", 1), 0);

    char err[256] = "";
    if (config_load_dotenv(path, err, sizeof(err)) != 0)
        fail_msg("dotenv failed: %s", err);
    expect_env("PXT_A", "plain value");
    expect_env("PXT_B", "single #not a comment \\n literal");
    expect_env("PXT_C", "double \"quoted\"\nnext\\slash");
    expect_env("PXT_D", "spaced");
    expect_env("PXT_E", "a#b");
    expect_env("PXT_F", "");
    expect_env("PXT_G", "from-env"); /* the environment wins over the file */
    expect_env("PXT_H", "second");   /* within the file, the last assignment wins */
    expect_env("PXT_I", "with = and 'single' inside");
    expect_env("PXT_J", "");
}

static void test_dotenv_missing_file_is_fine(void **state)
{
    (void)state;
    char path[PATH_MAX + 16];
    (void)snprintf(path, sizeof(path), "%s/does-not-exist.env", tmpdir);
    char err[256] = "";
    assert_int_equal(config_load_dotenv(path, err, sizeof(err)), 0);
}

static void test_dotenv_errors_name_file_and_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int line;
        const char *why;
    } cases[] = {
        {"PXT_OK=1\n# fine\nNOT A LINE\n", 3, "expected KEY=VALUE"},
        {"PXT_OK=1\nPXT_Q='open\n", 2, "unterminated single quote"},
        {"PXT_Q=\"open\\\"\n", 1, "unterminated double quote"},
        {"\n\n\n\nPXT_Q=\"a\" b\n", 5, "unexpected text after the closing quote"},
        {"1BAD=x\n", 1, "expected KEY=VALUE"},
        {"=x\n", 1, "expected KEY=VALUE"},
    };
    char path[PATH_MAX + 16];
    (void)snprintf(path, sizeof(path), "%s/bad.env", tmpdir);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        assert_int_equal(unsetenv("PXT_OK"), 0);
        write_file(path, cases[i].text);
        char err[PATH_MAX + 128] = "";
        assert_int_equal(config_load_dotenv(path, err, sizeof(err)), -1);
        char expected[PATH_MAX + 64];
        (void)snprintf(expected, sizeof(expected), "%s:%d: %s", path, cases[i].line, cases[i].why);
        if (strncmp(err, expected, strlen(expected)) != 0)
            fail_msg("case %zu: got \"%s\", expected it to start with \"%s\"", i, err, expected);
        /* A bad file sets nothing, not even the good lines before the bad one. */
        assert_null(getenv("PXT_OK"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_with_empty_environment),
        cmocka_unit_test(test_all_variables_set),
        cmocka_unit_test(test_data_key),
        cmocka_unit_test(test_accepted_variants),
        cmocka_unit_test(test_invalid_values_name_the_variable),
        cmocka_unit_test(test_exact_messages),
        cmocka_unit_test(test_secrets_are_never_echoed),
        cmocka_unit_test(test_production_requires_a_long_jwt_secret),
        cmocka_unit_test(test_reads_process_environment_by_default),
        cmocka_unit_test(test_dotenv_parsing),
        cmocka_unit_test(test_dotenv_missing_file_is_fine),
        cmocka_unit_test(test_dotenv_errors_name_file_and_line),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* The praxis command line: serve, migrate, seed, admin create, healthcheck, version. Owns the
 * process-wide singletons (config, logger, metrics) and the signal handling. Exit codes:
 * 0 success, 1 runtime failure, 2 bad usage or configuration. */
#include "core/config.h"
#include "core/log.h"
#include "services/app.h"
#include "services/ai/ai.h"
#include "services/seed.h"
#include "speech/stt.h"
#include "services/serve.h"
#include "services/users/admin.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_main[] =
    "usage: praxis <command> [options]\n"
    "\n"
    "OET Praxis: speaking practice for the Occupational English Test (one binary, every "
    "service).\n"
    "\n"
    "commands:\n"
    "  serve         run the HTTP server (migrates first)\n"
    "  migrate       apply pending database migrations\n"
    "  seed          load the shipped data (plans, role-play library); idempotent\n"
    "  admin create  create an administrator account\n"
    "  healthcheck   exit 0 when the local server is ready, 1 otherwise\n"
    "  version       print the version\n"
    "\n"
    "Configuration comes from the environment and an optional .env file; see .env.example.\n"
    "Run `praxis <command> --help` for a command's options.\n";

static const char usage_serve[] =
    "usage: praxis serve [--port N] [--services all|gateway,users,sessions,content,billing,"
    "webrtc,ai]\n"
    "\n"
    "Applies pending migrations, then serves HTTP until SIGTERM/SIGINT, which stops accepting\n"
    "connections and lets in-flight requests finish for up to SHUTDOWN_GRACE_SECONDS.\n"
    "  --port N       listen on N instead of PORT (0 = any free port)\n"
    "  --services S   which services this process runs (default all)\n";

static const char usage_migrate[] = "usage: praxis migrate\n\nApplies every pending migration "
                                    "compiled into this binary to DATABASE_URL.\n";
static const char usage_seed[] =
    "usage: praxis seed [--dir DIR]\n\nLoads DIR/plans.json and the role-play library "
    "DIR/scenarios/*.json into the\ndatabase (new cards are created and published, changed "
    "ones get a new published\nversion). Idempotent: running it twice changes nothing. DIR "
    "defaults to SEED_DIR or ./data.\n";
static const char usage_admin[] =
    "usage: praxis admin create --email EMAIL [--name NAME]\n\n"
    "Creates an administrator. The password is read from standard input (one line) when it is\n"
    "not a terminal; otherwise a strong one is generated and printed once.\n";
static const char usage_healthcheck[] =
    "usage: praxis healthcheck [--port N]\n\nAsks http://127.0.0.1:PORT/health/ready; exit 0 "
    "when it answers 200, 1 otherwise (for container probes).\n";

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

/* Loads .env and the configuration; prints one line and returns -1 on error. */
static int load_config(config *cfg)
{
    char err[512];
    if (config_load_dotenv(".env", err, sizeof(err)) != 0 ||
        config_load(cfg, NULL, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "praxis: configuration error: %s\n", err);
        return -1;
    }
    log_init(cfg->log_level, stderr);
    return 0;
}

static int parse_port(const char *s, int *port)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < 0 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"services", required_argument, NULL, 's'},
                                         {NULL, 0, NULL, 0}};
    const char *port_arg = NULL, *services_arg = "all";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p': port_arg = optarg; break;
        case 's': services_arg = optarg; break;
        default: fputs(usage_serve, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "praxis serve: unexpected argument \"%s\"\n%s", argv[optind], usage_serve);
        return EXIT_USAGE;
    }
    config cfg;
    if (load_config(&cfg) != 0)
        return EXIT_USAGE;
    if (port_arg && parse_port(port_arg, &cfg.port) != 0) {
        fprintf(stderr, "praxis: configuration error: --port: \"%s\" is not a port number\n",
                port_arg);
        config_free(&cfg);
        return EXIT_USAGE;
    }
    char err[512];
    unsigned services;
    if (app_parse_services(services_arg, &services, err, sizeof(err)) != 0) {
        fprintf(stderr, "praxis: configuration error: %s\n", err);
        config_free(&cfg);
        return EXIT_USAGE;
    }
    int rc = serve_run(&cfg, services, NULL);
    config_free(&cfg);
    return rc;
}

static int cmd_migrate(int argc, char **argv)
{
    if (argc > 1) {
        fputs(usage_migrate, stderr);
        return EXIT_USAGE;
    }
    (void)argv;
    config cfg;
    if (load_config(&cfg) != 0)
        return EXIT_USAGE;
    db *d = NULL;
    int rc = EXIT_USAGE;
    if (serve_open_db(&cfg, &d) == 0)
        rc = serve_migrate(d) == 0 ? 0 : EXIT_RUNTIME;
    db_close(d);
    config_free(&cfg);
    return rc;
}

/* The speech recogniser's language model of every published card, built into DATA_DIR/lm now
 * so the first voice session on a card does not wait for it. A failure only warns: voice
 * sessions build what is missing when they start. */
static void seed_language_models(const config *cfg, db *d)
{
    if (cfg->stt_remote)
        return;
    char lm_dir[4200], err[256];
    snprintf(lm_dir, sizeof(lm_dir), "%s/lm", cfg->data_dir);
    stt_config sc = {.engine = STT_POCKETSPHINX, .model_dir = cfg->stt_model_dir,
                     .cache_dir = lm_dir, .decoders = 1};
    stt *s = stt_open(&sc, err, sizeof(err));
    db_conn *c = s ? db_acquire(d) : NULL;
    int n = 0;
    if (!s)
        log_warn("seed: language models not prepared: %s", err);
    else if (!c || ai_prepare_language_models(s, c, &n) != 0)
        log_warn("seed: some language models could not be prepared (%d ready)", n);
    else
        log_info("seed: %d language model(s) ready in %s", n, lm_dir);
    if (c)
        db_release(c);
    stt_close(s);
}

static int cmd_seed(int argc, char **argv)
{
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = getenv("SEED_DIR");
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd') {
            dir = optarg;
        } else {
            fputs(usage_seed, stderr);
            return EXIT_USAGE;
        }
    }
    if (!dir || !*dir)
        dir = "./data";
    config cfg;
    if (load_config(&cfg) != 0)
        return EXIT_USAGE;
    db *d = NULL;
    int rc = EXIT_USAGE;
    if (serve_open_db(&cfg, &d) == 0) {
        char err[512];
        rc = EXIT_RUNTIME;
        if (serve_migrate(d) == 0) {
            seed_report rep;
            if (seed_run(d, dir, &rep, err, sizeof(err)) == 0) {
                log_info("seed: %d plan(s) written, %d unchanged; %d scenario(s) created, %d "
                         "updated, %d unchanged",
                         rep.plans_written, rep.plans_unchanged, rep.scenarios_created,
                         rep.scenarios_updated, rep.scenarios_unchanged);
                seed_language_models(&cfg, d);
                rc = 0;
            } else {
                fprintf(stderr, "praxis seed: %s\n", err);
            }
        }
    }
    db_close(d);
    config_free(&cfg);
    return rc;
}

static int cmd_admin(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "create") != 0) {
        fputs(usage_admin, stderr);
        return EXIT_USAGE;
    }
    static const struct option opts[] = {{"email", required_argument, NULL, 'e'},
                                         {"name", required_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    const char *email = NULL, *name = "Administrator";
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e': email = optarg; break;
        case 'n': name = optarg; break;
        default: fputs(usage_admin, stderr); return EXIT_USAGE;
        }
    }
    if (!email) {
        fprintf(stderr, "praxis admin create: --email is required\n%s", usage_admin);
        return EXIT_USAGE;
    }
    config cfg;
    if (load_config(&cfg) != 0)
        return EXIT_USAGE;
    db *d = NULL;
    int rc = EXIT_USAGE;
    if (serve_open_db(&cfg, &d) == 0) {
        rc = EXIT_RUNTIME;
        if (serve_migrate(d) == 0)
            rc = admin_create_cli(d, email, name, stdin, stdout, stderr);
    }
    db_close(d);
    config_free(&cfg);
    return rc;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static int cmd_healthcheck(int argc, char **argv)
{
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    const char *port_arg = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'p') {
            port_arg = optarg;
        } else {
            fputs(usage_healthcheck, stderr);
            return EXIT_USAGE;
        }
    }
    /* Probes run beside the server with the same .env, so read it the same way. */
    char err[512];
    if (config_load_dotenv(".env", err, sizeof(err)) != 0) {
        fprintf(stderr, "praxis healthcheck: %s\n", err);
        return EXIT_USAGE;
    }
    int port = 8000;
    const char *env_port = getenv("PORT");
    if (env_port && !*env_port)
        env_port = NULL;
    if ((port_arg && parse_port(port_arg, &port) != 0) ||
        (!port_arg && env_port && parse_port(env_port, &port) != 0)) {
        fprintf(stderr, "praxis healthcheck: PORT: not a port number\n");
        return EXIT_USAGE;
    }
    /* A wildcard bind address is reached through loopback; a specific one directly. */
    const char *host = getenv("HOST");
    if (!host || !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        host = "127.0.0.1";
    char url[320];
    if (strchr(host, ':'))
        snprintf(url, sizeof(url), "http://[%.256s]:%d/health/ready", host, port);
    else
        snprintf(url, sizeof(url), "http://%.256s:%d/health/ready", host, port);
    CURL *h = curl_easy_init();
    if (!h)
        return 1;
    long status = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (status == 200) {
        puts("ready");
        return 0;
    }
    if (cc != CURLE_OK)
        fprintf(stderr, "not ready: %s\n", curl_easy_strerror(cc));
    else
        fprintf(stderr, "not ready: HTTP %ld\n", status);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        if (wants_help(argc - 1, argv + 1)) {
            puts("usage: praxis version\n\nPrints the version of this binary.");
            return 0;
        }
        printf("praxis %s\n", PRAXIS_VERSION);
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
        const char *usage;
    } cmds[] = {
        {"serve", cmd_serve, usage_serve},
        {"migrate", cmd_migrate, usage_migrate},
        {"seed", cmd_seed, usage_seed},
        {"admin", cmd_admin, usage_admin},
        {"healthcheck", cmd_healthcheck, usage_healthcheck},
    };
    for (size_t i = 0; i < ARRAY_LEN(cmds); i++) {
        if (strcmp(cmd, cmds[i].name) != 0)
            continue;
        if (wants_help(argc - 1, argv + 1)) {
            fputs(cmds[i].usage, stdout);
            return 0;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = cmds[i].fn(argc - 1, argv + 1);
        curl_global_cleanup();
        return rc;
    }
    fprintf(stderr, "praxis: unknown command \"%s\"\n\n%s", cmd, usage_main);
    return EXIT_USAGE;
}

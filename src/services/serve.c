/* The serving process: everything `praxis serve` does after parsing its arguments. */
#include "services/serve.h"

#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "http/middleware.h"
#include "http/server.h"
#include "cache/ratelimit.h"
#include "events/email.h"
#include "services/app.h"
#include "services/users/jwt.h"
#include "services/sessions/sessions.h"
#include "services/users/users.h"
#include "speech/stt.h"
#include "speech/tts.h"
#include "store/blob.h"
#include "store/migrate.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int serve_open_db(const config *cfg, db **out)
{
    char err[512];
    db_options o = {.url = cfg->database_url, .pool_size = cfg->db_pool_size};
    if (db_open(&o, out, err, sizeof(err)) != 0) {
        fprintf(stderr, "praxis: configuration error: DATABASE_URL: %s\n", err);
        return -1;
    }
    return 0;
}

int serve_migrate(db *d)
{
    char err[512];
    int applied = 0;
    if (migrate_run(d, &applied, err, sizeof(err)) != 0) {
        log_error("migrate: %s", err);
        fprintf(stderr, "praxis: migration failed: %s\n", err);
        return -1;
    }
    log_info("migrate: %d migration(s) applied, schema at version %d", applied,
             migrate_current_version(d));
    return 0;
}

/* Quiesces the server and waits until nothing runs, the grace period ends, or a second
 * signal asks to stop now. 0 when drained. */
static int wait_for_drain(http_server *srv, const sigset_t *sigs, int sig, int grace_s)
{
    log_info("signal %d: shutting down, in-flight requests have %d s to finish", sig, grace_s);
    http_server_quiesce(srv);
    int64_t deadline = time_mono_ns() + (int64_t)grace_s * 1000000000;
    while (http_server_busy(srv) > 0) {
        int64_t left = deadline - time_mono_ns();
        if (left <= 0)
            break;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = left < 20000000 ? (long)left : 20000000};
        if (sigtimedwait(sigs, NULL, &ts) > 0) {
            log_warn("second signal: stopping now");
            break;
        }
    }
    int busy = http_server_busy(srv);
    if (busy > 0) {
        log_warn("shutdown: cutting off %d request(s)/websocket(s) still running", busy);
        return -1;
    }
    return 0;
}

int serve_run(config *cfg, unsigned services, serve_extra_routes_fn extra)
{
    char err[512];
    if (cfg->jwt_secret_generated)
        log_warn("JWT_SECRET is not set: using a random secret for this run (tokens will not "
                 "survive a restart); set it in .env");

    /* Signals are taken by sigwait in this thread only; every thread started below inherits
     * the mask, so no worker is interrupted. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = EXIT_RUNTIME;
    db *d = NULL;
    blob_store *blobs = NULL;
    router *r = NULL;
    http_server *srv = NULL;
    cache *mem = NULL;
    jwt_keyring *keys = NULL;
    outbox_dispatcher *outbox = NULL;
    sessions_sweeper *sweeper = NULL;
    tts *speech = NULL;
    stt *ears = NULL;
    cors_policy cors = {0};
    if (serve_open_db(cfg, &d) != 0) {
        rc = EXIT_USAGE;
        goto out;
    }
    if (serve_migrate(d) != 0)
        goto out;
    blobs = blob_store_open(cfg->data_dir, err, sizeof(err));
    if (!blobs) {
        fprintf(stderr, "praxis: configuration error: DATA_DIR: %s\n", err);
        rc = EXIT_USAGE;
        goto out;
    }
    if (cors_policy_parse(&cors, cfg->cors_origins) != 0)
        goto out;
    keys = jwt_keyring_new(cfg->jwt_secrets, cfg->jwt_secret, cfg->jwt_issuer, cfg->jwt_audience,
                           err, sizeof(err));
    if (!keys) {
        fprintf(stderr, "praxis: configuration error: %s\n", err);
        rc = EXIT_USAGE;
        goto out;
    }
    ratelimit_set_window_scale(cfg->rate_limit_scale);
    mem = cache_memory_new(100000);
    if (!mem)
        goto out;
    /* The transport lives as long as the dispatcher that uses it. */
    email_transport mail = {.smtp = cfg->email_smtp, .smtp_url = cfg->smtp_url,
                            .from = cfg->smtp_from, .timeout_ms = 15000};
    outbox_options oo = {0};
    outbox = outbox_dispatcher_new(d, &oo);
    if (!outbox || email_register(outbox, &mail) != 0 || sessions_register_jobs(outbox, d) != 0 ||
        outbox_dispatcher_start(outbox) != 0) {
        log_error("the outbox dispatcher could not start");
        goto out;
    }
    /* Completes sessions at their deadline and abandons idle ones (10 minutes). */
    if ((services & SERVICE_SESSIONS) && !(sweeper = sessions_sweeper_start(d, 1000, 600))) {
        log_error("the session sweeper could not start");
        goto out;
    }
    if (services & (SERVICE_AI | SERVICE_SESSIONS)) {
        tts_config tc = {.remote = cfg->tts_remote, .url = cfg->tts_url,
                         .api_key = cfg->tts_api_key, .model = cfg->tts_model};
        speech = tts_open(&tc, err, sizeof(err));
        if (!speech) {
            fprintf(stderr, "praxis: configuration error: %s\n", err);
            rc = EXIT_USAGE;
            goto out;
        }
        char lm_dir[4200];
        snprintf(lm_dir, sizeof(lm_dir), "%s/lm", cfg->data_dir);
        stt_config sc = {.engine = cfg->stt_remote ? STT_REMOTE : STT_POCKETSPHINX,
                         .model_dir = cfg->stt_model_dir, .cache_dir = lm_dir,
                         .decoders = cfg->stt_decoders, .remote_url = cfg->stt_url,
                         .remote_key = cfg->stt_api_key, .remote_model = cfg->stt_model};
        ears = stt_open(&sc, err, sizeof(err));
        if (!ears) {
            fprintf(stderr, "praxis: configuration error: STT: %s\n", err);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    metrics_register_process();
    r = router_new();
    if (!r || app_register_routes(r, services) != 0 || (extra && extra(r) != 0)) {
        log_error("route table could not be built");
        goto out;
    }
    app application = {.cfg = cfg, .db = d, .blobs = blobs, .router = r,
                       .services = services, .started_ms = time_now_ms(), .cache = mem,
                       .keys = keys, .outbox = outbox, .tts = speech, .stt = ears};
    middleware_config mwc = {.cors = &cors, .hsts = strncmp(cfg->public_url, "https://", 8) == 0};
    http_middleware chain[16];
    size_t nchain = http_middleware_chain(&mwc, chain, ARRAY_LEN(chain));
    /* Authentication before rate limits: per-user limits need the principal. */
    chain[nchain++] = users_auth_middleware(&application);
    chain[nchain++] = ratelimit_middleware(mem);
    http_server_options so = {.host = cfg->host, .port = cfg->port, .threads = cfg->http_threads,
                              .request_timeout_s = cfg->request_timeout_s, .app = &application};
    srv = http_server_new(&so, r, chain, nchain);
    if (!srv)
        goto out;
    if (http_server_start(srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "praxis: configuration error: %s\n", err);
        rc = EXIT_USAGE;
        goto out;
    }
    json_t *ready = json_pack("{s:s, s:s, s:i, s:s, s:i, s:s}", "msg", "listening", "host",
                              cfg->host, "port", http_server_port(srv), "database",
                              db_kind(d) == DB_SQLITE ? "sqlite" : "postgres", "threads",
                              cfg->http_threads, "version", PRAXIS_VERSION);
    if (ready)
        log_json(LOG_INFO, ready);

    int sig = 0;
    sigwait(&sigs, &sig);
    if (wait_for_drain(srv, &sigs, sig, cfg->shutdown_grace_s) != 0) {
        /* Handlers cannot be interrupted and MHD would wait for them: past the deadline the
         * process ends here, without freeing what those handlers may still be using. */
        fflush(stderr);
        _exit(0);
    }
    http_server_stop(srv);
    log_info("stopped");
    rc = 0;
out:
    http_server_free(srv);
    sessions_sweeper_stop(sweeper);
    outbox_dispatcher_free(outbox);
    cache_free(mem);
    jwt_keyring_free(keys);
    tts_close(speech);
    stt_close(ears);
    router_free(r);
    cors_policy_free(&cors);
    blob_store_close(blobs);
    db_close(d);
    metrics_reset();
    return rc;
}


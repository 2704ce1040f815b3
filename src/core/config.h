/* Process configuration from the environment and an optional .env file (a documented
 * singleton once loaded: main owns it and passes it down). Every variable is documented
 * in .env.example and README.md; validation errors name the variable. */
#ifndef PRAXIS_CORE_CONFIG_H
#define PRAXIS_CORE_CONFIG_H

#include "core/common.h"
#include "core/log.h"

typedef struct config {
    int production;            /* PRODUCTION */
    char *host;                /* HOST */
    int port;                  /* PORT */
    char *database_url;        /* DATABASE_URL */
    char *data_dir;            /* DATA_DIR */
    int http_threads;          /* HTTP_THREADS */
    int request_timeout_s;     /* REQUEST_TIMEOUT_SECONDS */
    int shutdown_grace_s;      /* SHUTDOWN_GRACE_SECONDS */
    int db_pool_size;          /* DB_POOL_SIZE */
    char *jwt_secret;          /* JWT_SECRET */
    int jwt_secret_generated;  /* 1 when JWT_SECRET was unset outside production */
    char *public_url;          /* PUBLIC_URL */
    char *cors_origins;        /* CORS_ORIGINS, comma separated; "" = no cross-origin access */
    log_level log_level;       /* LOG_LEVEL */
    /* accounts */
    char *jwt_secrets;         /* JWT_SECRETS "kid:secret,…" (first signs); NULL = use JWT_SECRET */
    char *jwt_issuer;          /* JWT_ISSUER */
    char *jwt_audience;        /* JWT_AUDIENCE */
    int access_ttl_s;          /* ACCESS_TOKEN_TTL_SECONDS */
    int refresh_ttl_s;         /* REFRESH_TOKEN_TTL_SECONDS */
    int verify_ttl_s;          /* EMAIL_VERIFY_TTL_SECONDS */
    int reset_ttl_s;           /* PASSWORD_RESET_TTL_SECONDS */
    int email_smtp;            /* EMAIL_TRANSPORT: 0 log, 1 smtp */
    char *smtp_url;            /* SMTP_URL */
    char *smtp_from;           /* SMTP_FROM */
    double rate_limit_scale;   /* RATE_LIMIT_WINDOW_SCALE (0 < x <= 1) */
    double session_time_scale; /* SESSION_TIME_SCALE (0 < x <= 1): prep and role-play clocks */
} config;

/* Looks a variable up; NULL when unset. The default reads the process environment. */
typedef const char *(*config_env_fn)(const char *name, void *ud);

#define CONFIG_JWT_SECRET_MIN 32

/* Fills c from env (getenv when env is NULL) and validates every value. On error returns -1
 * with a one-line message naming the variable in err; c is left cleaned up. */
int config_load(config *c, config_env_fn env, void *ud, char *err, size_t errlen) WUR;
void config_free(config *c);

/* Reads KEY=VALUE lines (comments, blank lines, `export `, single/double quotes) from path and
 * sets each variable that is not already set in the environment. A missing file is not an
 * error (returns 0); a malformed line is (-1, err names the file and line). */
int config_load_dotenv(const char *path, char *err, size_t errlen) WUR;

#endif

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
    /* voice and AI engines (issue 5) */
    unsigned char data_key[32]; /* DATA_KEY (64 hex or base64 of 32 bytes): recordings at rest */
    int data_key_generated;     /* 1 when DATA_KEY was unset and DATA_DIR/data.key was used */
    int stt_remote;             /* STT_ENGINE: 0 pocketsphinx, 1 remote */
    char *stt_url;              /* STT_URL: Whisper-compatible base URL (remote) */
    char *stt_api_key;          /* STT_API_KEY */
    char *stt_model;            /* STT_MODEL (remote model name) */
    char *stt_model_dir;        /* STT_MODEL_DIR: pocketsphinx en-us model directory */
    int stt_decoders;           /* STT_DECODERS: concurrent utterances being recognised */
    int tts_remote;             /* TTS_ENGINE: 0 flite, 1 remote */
    char *tts_url;              /* TTS_URL: OpenAI-compatible base URL (remote) */
    char *tts_api_key;          /* TTS_API_KEY */
    char *tts_model;            /* TTS_MODEL */
    char *llm_base_url;         /* LLM_BASE_URL: OpenAI-compatible; NULL = no LLM patient */
    char *llm_api_key;          /* LLM_API_KEY */
    char *llm_model;            /* LLM_MODEL */
    int llm_timeout_ms;         /* LLM_TIMEOUT_MS: then the scripted patient answers */
    int vad_hangover_short_ms;  /* VAD_HANGOVER_SHORT_MS: after a complete sentence */
    int vad_hangover_long_ms;   /* VAD_HANGOVER_LONG_MS: otherwise */
    int vad_min_speech_ms;      /* VAD_MIN_SPEECH_MS */
    int stream_idle_s;          /* STREAM_IDLE_SECONDS: a silent socket is closed after this */
    char *livekit_url;          /* LIVEKIT_URL (wss://…); NULL = /v1/rtc/token answers 503 */
    char *livekit_api_key;      /* LIVEKIT_API_KEY */
    char *livekit_api_secret;   /* LIVEKIT_API_SECRET */
    /* billing (issue 7) */
    int billing_stripe;         /* BILLING_PROVIDER: 0 local, 1 stripe */
    char *stripe_api_base;      /* STRIPE_API_BASE */
    char *stripe_secret_key;    /* STRIPE_SECRET_KEY */
    char *stripe_webhook_secret; /* STRIPE_WEBHOOK_SECRET: "whsec_…" (comma separated = rotation) */
    char *stripe_price_standard; /* STRIPE_PRICE_STANDARD */
    char *stripe_price_premium;  /* STRIPE_PRICE_PREMIUM */
    int stripe_timeout_ms;      /* STRIPE_TIMEOUT_MS per attempt */
    int billing_grace_days;     /* BILLING_GRACE_DAYS: past_due keeps the plan this long */
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

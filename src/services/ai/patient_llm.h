/* The llm patient engine: the scripted engine decides what the patient may say this turn (which
 * facts were asked, which cues and concerns are due) and a language model behind any
 * OpenAI-compatible /v1/chat/completions endpoint says it, in the persona's words, streamed.
 * Every sentence passes the safety filter (safety.h) before anybody hears it; a timeout, an
 * HTTP error, a broken stream or an unsafe reply makes the scripted reply answer that turn.
 * Same statelessness as patient.h: the conversation history the model sees lives in the state
 * object. See docs/patient.md. */
#ifndef PRAXIS_SERVICES_AI_PATIENT_LLM_H
#define PRAXIS_SERVICES_AI_PATIENT_LLM_H

#include "core/common.h"
#include "services/ai/patient.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct llm_config {
    const char *base_url, *api_key, *model; /* base_url NULL: no model, the scripted engine */
    int timeout_ms;                         /* the whole request; then the scripted reply */
} llm_config;

/* Called with each complete sentence of the reply as soon as it is known (for speech synthesis
 * sentence by sentence); may be NULL. Every reply reaches it, whichever engine answered: the
 * sentences of a scripted reply come when it is decided. */
typedef void (*patient_sentence_fn)(const char *sentence, void *ud);

/* Same contract as patient_respond, through the LLM: the scripted matcher still decides which
 * facts the utterance asks for and which cues are due (so meta.topics/meta.cues stay exact for
 * scoring and the patient can never volunteer an unasked fact); the LLM phrases the reply from
 * the persona, the history and only the facts it is allowed to give this turn. On timeout, HTTP
 * error, bad stream, or an unsafe/leaking output it falls back to the scripted reply for this
 * turn; meta gains "engine": "llm"|"scripted" and "fallback": reason. Candidate text that is
 * abuse or an injection attempt is never sent: the patient reacts in role (patient_deflect).
 * When the stream breaks after sentences were emitted, those stay (they were heard) and the
 * card's own words for what the reply still owed follow (meta "partial": true). -1 only when
 * even the scripted engine failed (a bad card or state, out of memory). */
int patient_llm_respond(const llm_config *cfg, const patient_context *ctx, json_t *state,
                        const char *utterance, int64_t elapsed_ms, patient_sentence_fn on_sentence,
                        void *ud, patient_reply *out) WUR;

/* Gives text to on_sentence sentence by sentence (the same splitting as the stream). */
void patient_say_sentences(const char *text, patient_sentence_fn on_sentence, void *ud);

/* The system prompt for the turn planned by the scripted engine (exposed for tests; malloc'd,
 * NULL on failure): the persona and the background less what gives away an unasked fact, the
 * answers of the facts given before and asked now (state_after holds both, plan->meta says
 * which are new), the cues and concerns due, the plain reply to rephrase, the rules. Never an
 * unasked fact's answer nor the closing line. */
char *patient_llm_system_prompt(const patient_context *ctx, const json_t *state_after,
                                const patient_reply *plan);

/* ---- the streamed reply (exposed for tests) --------------------------------------------------
 * Server-sent events as they arrive, cut anywhere: "data: {json}" lines (CRLF, LF or CR),
 * comments and other fields ignored, events dispatched at a blank line,
 * choices[0].delta.content appended, "data: [DONE]" the end. Complete sentences go to
 * on_sentence as soon as they are known; it returns non-zero to stop the stream. */

typedef int (*llm_sentence_fn)(const char *sentence, void *ud);

typedef struct llm_stream llm_stream;

enum llm_stream_error {
    LLM_STREAM_OK = 0,
    LLM_STREAM_MALFORMED, /* not SSE, not JSON, no choices, an "error" event, or ended early */
    LLM_STREAM_TOO_LONG,  /* the reply went past max_reply bytes */
    LLM_STREAM_STOPPED,   /* on_sentence said stop */
};

/* max_reply: bytes of reply text kept (sentences past it stop the stream). NULL on OOM. */
llm_stream *llm_stream_new(size_t max_reply, llm_sentence_fn on_sentence, void *ud);
void llm_stream_free(llm_stream *s);
/* 0 to go on, -1 once the stream has failed (llm_stream_error says why). */
int llm_stream_feed(llm_stream *s, const char *data, size_t len);
/* The body ended: the last event and sentence are flushed. 0 when the reply is complete
 * ([DONE], or a finish_reason, was seen), -1 otherwise. */
int llm_stream_finish(llm_stream *s);
enum llm_stream_error llm_stream_error(const llm_stream *s);
/* The sentences given to on_sentence and accepted, joined by spaces ("" when none). */
const char *llm_stream_text(const llm_stream *s);
size_t llm_stream_sentences(const llm_stream *s);
/* 1 once any content arrived (for the first-token metric). */
int llm_stream_started(const llm_stream *s);

#endif

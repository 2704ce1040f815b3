/* Language models for speech recognition, one per published scenario version, built when the
 * library changes (seed, publish) so a candidate's first words are not spent waiting for one. */
#include "services/ai/ai.h"

#include "core/log.h"
#include "services/content/content.h"
#include "speech/stt.h"

#include <stdio.h>

void ai_domain_key(const char *scenario_id, long long version, char out[AI_DOMAIN_KEY_LEN])
{
    snprintf(out, AI_DOMAIN_KEY_LEN, "%s-v%lld", scenario_id, version);
}

int ai_prepare_scenario_model(stt *s, db_conn *c, const char *scenario_id)
{
    long long version = 0;
    json_t *doc = NULL;
    int rc = content_published_card(c, scenario_id, &version, &doc);
    if (rc != DB_OK) {
        json_decref(doc);
        return rc == 1 ? 0 : -1; /* not published: nothing to prepare */
    }
    char key[AI_DOMAIN_KEY_LEN];
    ai_domain_key(scenario_id, version, key);
    rc = stt_prepare_domain(s, key, doc);
    json_decref(doc);
    return rc;
}

int ai_prepare_language_models(stt *s, db_conn *c, int *prepared)
{
    *prepared = 0;
    json_t *items = NULL;
    if (content_published_summaries(c, NULL, &items) != DB_OK)
        return -1;
    int failed = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        const char *id = json_string_value(json_object_get(it, "id"));
        if (id && ai_prepare_scenario_model(s, c, id) == 0)
            (*prepared)++;
        else
            failed++;
    }
    json_decref(items);
    if (failed)
        log_msg(LOG_WARN, "speech: %d language model(s) could not be prepared", failed);
    return failed ? -1 : 0;
}

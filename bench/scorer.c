/* Scoring speed: scores every calibration transcript (tests/data/transcripts) many times and
 * prints per-transcript p50/p99 and the slowest, against issue #6's target of 50 ms for a
 * 5-minute session. Run with `make bench` (Release build). */
#include "services/ai/scorer.h"

#include "core/timeutil.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 50

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static json_t *load(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j)
        fprintf(stderr, "%s: %s\n", path, e.text);
    return j;
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : ".";
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/tests/data/transcripts", root);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        return 1;
    }
    int64_t all[4096];
    size_t nall = 0, files = 0;
    int64_t worst = 0;
    char worst_name[256] = "";
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char path[2048], spath[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        json_t *t = load(path);
        if (!t)
            continue;
        snprintf(spath, sizeof(spath), "%s/data/scenarios/%s.json", root,
                 json_string_value(json_object_get(t, "scenario")));
        json_t *card = load(spath);
        if (!card) {
            json_decref(t);
            continue;
        }
        scorer_input in = {.scenario = card,
                           .turns = json_object_get(t, "turns"),
                           .mode = json_string_value(json_object_get(t, "mode")),
                           .session_id = NULL};
        for (int i = 0; i < RUNS && nall < 4096; i++) {
            char err[128];
            int64_t t0 = time_mono_ns();
            json_t *r = scorer_score(&in, err, sizeof(err));
            int64_t dt = time_mono_ns() - t0;
            json_decref(r);
            all[nall++] = dt;
            if (dt > worst) {
                worst = dt;
                snprintf(worst_name, sizeof(worst_name), "%s", e->d_name);
            }
        }
        files++;
        json_decref(card);
        json_decref(t);
    }
    closedir(d);
    if (!nall) {
        fprintf(stderr, "no transcripts found under %s\n", dir);
        return 1;
    }
    qsort(all, nall, sizeof(all[0]), cmp_i64);
    printf("scorer: %zu transcripts x %d runs\n", files, RUNS);
    printf("  p50 %.2f ms  p99 %.2f ms  max %.2f ms (%s)  target <= 50 ms\n",
           (double)all[nall / 2] / 1e6, (double)all[nall * 99 / 100] / 1e6, (double)worst / 1e6,
           worst_name);
    return all[nall * 99 / 100] <= 50 * 1000000LL ? 0 : 1;
}

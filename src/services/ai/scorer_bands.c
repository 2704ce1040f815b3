/* Every table that turns counts into scores, in one place so docs/scoring.md can mirror it:
 * indicator average → clinical band, linguistic penalty bands, confidence → intelligibility,
 * raw 0–39 → the estimated 0–500 and its grade. Change a table here and in the doc together. */
#include "services/ai/scorer_internal.h"

#include <math.h>

#define INF HUGE_VAL

int scorer_band_clinical(double ratio)
{
    /* ratio = (met + 0.5 × partly) / number of indicators of the criterion */
    if (ratio >= 0.80)
        return 3; /* adept */
    if (ratio >= 0.55)
        return 2; /* competent */
    if (ratio >= 0.25)
        return 1; /* partially effective */
    return 0;
}

double scorer_band_penalty(const sc_band *rows, size_t n, double value)
{
    for (size_t i = 0; i < n; i++)
        if (value <= rows[i].upto)
            return rows[i].penalty;
    return n > 0 ? rows[n - 1].penalty : 0;
}

/* Fluency (voice). Speech rate, words per minute of speaking time: 100–175 is unmarked. */
const sc_band scorer_bands_speech_rate_low[] = {{60, 3}, {80, 2}, {95, 1}, {100, 0.5}, {INF, 0}};
const size_t scorer_bands_speech_rate_low_n = ARRAY_LEN(scorer_bands_speech_rate_low);
const sc_band scorer_bands_speech_rate_high[] = {{175, 0}, {195, 0.5}, {215, 1}, {INF, 1.5}};
const size_t scorer_bands_speech_rate_high_n = ARRAY_LEN(scorer_bands_speech_rate_high);
/* Silent pauses of at least 400 ms inside a turn, per minute of speaking time. */
const sc_band scorer_bands_pauses[] = {{6, 0}, {10, 0.5}, {15, 1}, {20, 1.5}, {INF, 2}};
const size_t scorer_bands_pauses_n = ARRAY_LEN(scorer_bands_pauses);
/* Mean length of run: words between pauses (silent ≥ 400 ms or filled). */
const sc_band scorer_bands_mlr[] = {{3, 1.5}, {5, 1}, {8, 0.5}, {INF, 0}};
const size_t scorer_bands_mlr_n = ARRAY_LEN(scorer_bands_mlr);
/* Filled pauses (um, er…) and typed hesitations ("..."), per 100 words. */
const sc_band scorer_bands_fillers[] = {{1, 0}, {3, 0.5}, {6, 1}, {10, 1.5}, {INF, 2}};
const size_t scorer_bands_fillers_n = ARRAY_LEN(scorer_bands_fillers);
/* Repetitions ("the the", "do you do you") and self-corrections, per 100 words. */
const sc_band scorer_bands_repetitions[] = {{1, 0}, {3, 0.5}, {6, 1}, {INF, 1.5}};
const size_t scorer_bands_repetitions_n = ARRAY_LEN(scorer_bands_repetitions);

/* Appropriateness. Distinct clinical terms used without a lay explanation. */
const sc_band scorer_bands_jargon[] = {{0, 0}, {1, 1}, {2, 1.5}, {4, 2}, {INF, 3}};
const size_t scorer_bands_jargon_n = ARRAY_LEN(scorer_bands_jargon);
/* Register lapses: dismissive, over-casual, judgemental or commanding sentences. */
const sc_band scorer_bands_register[] = {{0, 0}, {1, 0.5}, {3, 1}, {5, 1.5}, {INF, 2}};
const size_t scorer_bands_register_n = ARRAY_LEN(scorer_bands_register);

/* Grammar and expression. Detected errors per 100 words. */
const sc_band scorer_bands_errors[] = {{0, 0}, {0.5, 0.5}, {1.5, 1}, {3, 1.5},
                                       {5, 2}, {8, 2.5},   {INF, 3}};
const size_t scorer_bands_errors_n = ARRAY_LEN(scorer_bands_errors);
/* MTLD lexical diversity (higher is richer). */
const sc_band scorer_bands_mtld[] = {{30, 2}, {40, 1.5}, {50, 1}, {62, 0.5}, {INF, 0}};
const size_t scorer_bands_mtld_n = ARRAY_LEN(scorer_bands_mtld);
/* Mean sentence length in words (very short sentences show a narrow range). */
const sc_band scorer_bands_sentence_length[] = {{6, 1}, {8, 0.5}, {INF, 0}};
const size_t scorer_bands_sentence_length_n = ARRAY_LEN(scorer_bands_sentence_length);
/* Share of sentences with a subordinate clause (because, which, if, when, that…). */
const sc_band scorer_bands_subordination[] = {{0.10, 1}, {0.20, 0.5}, {INF, 0}};
const size_t scorer_bands_subordination_n = ARRAY_LEN(scorer_bands_subordination);

int scorer_band_intelligibility(double mean_conf, double low_share)
{
    static const double conf_min[] = {0.90, 0.85, 0.78, 0.70, 0.60, 0.45}; /* for 6, 5 … 1 */
    static const double low_max[] = {0.05, 0.10, 0.18, 0.28, 0.40, 0.55};
    int by_conf = 0, by_low = 0;
    for (int i = 0; i < 6; i++)
        if (mean_conf >= conf_min[i]) {
            by_conf = 6 - i;
            break;
        }
    for (int i = 0; i < 6; i++)
        if (low_share <= low_max[i]) {
            by_low = 6 - i;
            break;
        }
    return by_conf < by_low ? by_conf : by_low;
}

/* raw → estimate: OET publishes no conversion, so this is our own, anchored on the usual reading
 * that all-5s with all-2s (29–30) is about a B, all-4s with all-2s (26) a C+, and all-3s with
 * all-1s (17) a C. */
static const struct {
    double raw, score;
} estimate_table[] = {{0, 0}, {11, 100}, {17, 200}, {25, 300}, {29, 350}, {35, 450}, {39, 500}};

int scorer_band_estimate(double raw)
{
    if (raw <= 0)
        return 0;
    size_t n = ARRAY_LEN(estimate_table);
    if (raw >= estimate_table[n - 1].raw)
        return 500;
    for (size_t i = 1; i < n; i++) {
        if (raw > estimate_table[i].raw)
            continue;
        double r0 = estimate_table[i - 1].raw, r1 = estimate_table[i].raw;
        double s0 = estimate_table[i - 1].score, s1 = estimate_table[i].score;
        double s = s0 + (raw - r0) * (s1 - s0) / (r1 - r0);
        return (int)(floor(s / 10.0 + 0.5) * 10.0);
    }
    return 500;
}

const char *scorer_band_grade(int estimate)
{
    if (estimate >= 450)
        return "A";
    if (estimate >= 350)
        return "B";
    if (estimate >= 300)
        return "C+";
    if (estimate >= 200)
        return "C";
    if (estimate >= 100)
        return "D";
    return "E";
}

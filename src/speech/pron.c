/* flite's lexicon and letter-to-sound rules as a pronunciation source for pocketsphinx: the two
 * use the same CMU phone set, except that flite keeps stress digits and has a separate schwa
 * ("ax") and r-coloured schwa ("axr"), which sphinx writes AH and ER. */
#include "speech/pron.h"

#include <ctype.h>
#include <flite/flite.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Declared by flite's cmulex library, which installs no header for it. */
cst_lexicon *cmu_lex_init(void);

/* The flite lexicon is a lazily initialised global inside flite: one lock for every use. */
static pthread_mutex_t flite_lock = PTHREAD_MUTEX_INITIALIZER;

const char *stt_pron_phone(const char *flite_phone)
{
    static const char *const same[] = {"aa", "ae", "ah", "ao", "aw", "ay", "b",  "ch", "d",  "dh",
                                       "eh", "er", "ey", "f",  "g",  "hh", "ih", "iy", "jh", "k",
                                       "l",  "m",  "n",  "ng", "ow", "oy", "p",  "r",  "s",  "sh",
                                       "t",  "th", "uh", "uw", "v",  "w",  "y",  "z",  "zh"};
    static const char *const upper[] = {"AA", "AE", "AH", "AO", "AW", "AY", "B",  "CH", "D",  "DH",
                                        "EH", "ER", "EY", "F",  "G",  "HH", "IH", "IY", "JH", "K",
                                        "L",  "M",  "N",  "NG", "OW", "OY", "P",  "R",  "S",  "SH",
                                        "T",  "TH", "UH", "UW", "V",  "W",  "Y",  "Z",  "ZH"};
    char base[8];
    size_t len = 0;
    if (!flite_phone)
        return NULL;
    /* Drop the stress digit. */
    while (flite_phone[len] && !isdigit((unsigned char)flite_phone[len]) &&
           len < sizeof(base) - 1) {
        base[len] = (char)tolower((unsigned char)flite_phone[len]);
        len++;
    }
    base[len] = '\0';
    if (strcmp(base, "ax") == 0)
        return "AH";
    if (strcmp(base, "axr") == 0)
        return "ER";
    for (size_t i = 0; i < ARRAY_LEN(same); i++)
        if (strcmp(base, same[i]) == 0)
            return upper[i];
    return NULL;
}

int stt_pron_guess(const char *word, char *out, size_t outlen)
{
    char clean[64];
    size_t n = 0;
    for (const char *p = word; *p; p++) {
        if (*p == '\'')
            continue;
        if (!isalpha((unsigned char)*p) || n + 1 >= sizeof(clean))
            return -1;
        clean[n++] = (char)tolower((unsigned char)*p);
    }
    clean[n] = '\0';
    if (n == 0 || outlen == 0)
        return -1;

    size_t len = 0;
    int rc = 0, phones = 0;
    out[0] = '\0';
    if (pthread_mutex_lock(&flite_lock) != 0)
        return -1;
    cst_lexicon *lex = cmu_lex_init();
    cst_val *pron = lex ? lex_lookup(lex, clean, NULL, NULL) : NULL;
    for (const cst_val *v = pron; v && rc == 0; v = val_cdr(v)) {
        const char *ph = stt_pron_phone(val_string(val_car(v)));
        if (!ph)
            continue;
        int w = snprintf(out + len, outlen - len, len ? " %s" : "%s", ph);
        if (w < 0 || (size_t)w >= outlen - len)
            rc = -1;
        else
            len += (size_t)w;
        phones++;
    }
    if (pron)
        delete_val(pron);
    (void)pthread_mutex_unlock(&flite_lock);
    return rc == 0 && phones > 0 ? 0 : -1;
}

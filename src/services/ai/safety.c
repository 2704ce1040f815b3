/* The safety filter (see safety.h): a normaliser, a small word-pattern matcher, the pattern
 * lists of each check, and content-word overlap for facts and the closing line. */
#include "services/ai/safety.h"

#include "core/common.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SF_MAX_INPUT 8000 /* bytes of a text that are read */
#define SF_MAX_WORDS 1200
#define SF_WORD 40
#define SF_MAX_SET 600 /* distinct content words kept for one text */

typedef struct sf_text {
    char (*sq)[SF_WORD];    /* squeezed, leetspeak undone: what patterns match */
    char (*plain)[SF_WORD]; /* lower case as written: what content words come from */
    size_t n, max;
} sf_text;

typedef struct sf_set {
    char (*w)[SF_WORD];
    size_t n;
} sf_set;

static int sf_parse(const char *s, sf_text *t);
static void sf_text_free(sf_text *t);
static int sf_match_any(const sf_text *t, const char *const *patterns);

/* ---- normalising ---------------------------------------------------------------------------- */

static char leet(char c)
{
    switch (c) {
    case '0':
        return 'o';
    case '1':
        return 'i';
    case '3':
        return 'e';
    case '4':
        return 'a';
    case '5':
        return 's';
    case '7':
        return 't';
    case '8':
        return 'b';
    case '@':
        return 'a';
    case '$':
        return 's';
    default:
        return c;
    }
}

/* Repeated letters once: "fuuuck" and "fuck", "all" and "al" compare equal on both sides. */
static void squeeze(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < cap; p++) {
        if (n && out[n - 1] == *p && isalpha((unsigned char)*p))
            continue;
        out[n++] = *p;
    }
    out[n] = '\0';
}

/* Text speak spelled out, so patterns need one spelling. */
static const char *expand(const char *w)
{
    static const char *const map[][2] = {{"u", "you"},  {"ur", "your"},    {"r", "are"},
                                         {"ya", "you"}, {"pls", "please"}, {"plz", "please"},
                                         {"ai", "ai"}};
    for (size_t i = 0; i < ARRAY_LEN(map); i++)
        if (!strcmp(w, map[i][0]))
            return map[i][1];
    return w;
}

static int word_char(unsigned char c)
{
    return isalnum(c) || c == '@' || c == '$' || c == '*';
}

/* Appends one raw token (ASCII, apostrophes already dropped) as a word. */
static void add_word(sf_text *t, const char *tok, size_t len)
{
    if (!len || t->n >= t->max)
        return;
    char w[SF_WORD];
    if (len >= sizeof(w))
        len = sizeof(w) - 1;
    int letters = 0, others = 0, stars = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)tok[i];
        letters += isalpha(c) != 0;
        others += isdigit(c) || c == '@' || c == '$';
        stars += c == '*';
    }
    for (size_t i = 0; i < len; i++) {
        char c = (char)tolower((unsigned char)tok[i]);
        w[i] = letters && others ? leet(c) : c;
    }
    w[len] = '\0';
    if (stars == (int)len || (!letters && !others))
        return;
    snprintf(t->plain[t->n], SF_WORD, "%s", w);
    if (stars)
        snprintf(t->sq[t->n], SF_WORD, "%s", w); /* masked words are compared as written */
    else
        squeeze(expand(w), t->sq[t->n], SF_WORD);
    t->n++;
}

/* Three or more one-letter words in a row are one word: "f u c k", "f.u.c.k". */
static void join_spelled(sf_text *t)
{
    size_t out = 0;
    for (size_t i = 0; i < t->n;) {
        size_t j = i;
        while (j < t->n && strlen(t->plain[j]) == 1 && isalpha((unsigned char)t->plain[j][0]))
            j++;
        if (j - i >= 3) {
            char w[SF_WORD];
            size_t k = 0;
            for (size_t x = i; x < j && k + 1 < sizeof(w); x++)
                w[k++] = t->plain[x][0];
            w[k] = '\0';
            snprintf(t->plain[out], SF_WORD, "%s", w);
            squeeze(w, t->sq[out], SF_WORD);
            out++;
            i = j;
            continue;
        }
        if (out != i) {
            memcpy(t->plain[out], t->plain[i], SF_WORD);
            memcpy(t->sq[out], t->sq[i], SF_WORD);
        }
        out++;
        i++;
    }
    t->n = out;
}

static int sf_parse(const char *s, sf_text *t)
{
    memset(t, 0, sizeof(*t));
    size_t limit = strnlen(s, SF_MAX_INPUT);
    /* A word takes at least two bytes with its separator. */
    t->max = limit / 2 + 2 < SF_MAX_WORDS ? limit / 2 + 2 : SF_MAX_WORDS;
    t->sq = malloc(sizeof(*t->sq) * t->max);
    t->plain = malloc(sizeof(*t->plain) * t->max);
    if (!t->sq || !t->plain) {
        sf_text_free(t);
        return -1;
    }
    char tok[SF_WORD * 2];
    size_t len = 0;
    for (size_t i = 0; i <= limit; i++) {
        unsigned char c = i < limit ? (unsigned char)s[i] : ' ';
        /* An apostrophe inside a word is dropped ("you're" is "youre"), ASCII or U+2019. */
        if (c == '\'' && len) {
            continue;
        }
        if (c == 0xE2 && i + 2 < limit && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0x99 || (unsigned char)s[i + 2] == 0x98)) {
            i += 2;
            if (len)
                continue;
            c = ' ';
        }
        if (c < 0x80 && word_char(c)) {
            if (len < sizeof(tok))
                tok[len++] = (char)c;
            continue;
        }
        /* A trailing '*' is punctuation ("*sighs*"), not a mask. */
        while (len && tok[len - 1] == '*')
            len--;
        size_t start = 0;
        while (start < len && tok[start] == '*')
            start++;
        add_word(t, tok + start, len - start);
        len = 0;
    }
    join_spelled(t);
    return 0;
}

static void sf_text_free(sf_text *t)
{
    free(t->sq);
    free(t->plain);
    t->sq = NULL;
    t->plain = NULL;
    t->n = 0;
}

/* ---- patterns ------------------------------------------------------------------------------- *
 * A pattern is words separated by spaces; each is a set of alternatives "a|b|c" matched against
 * one word of the text. Prefixes: "?" optional, "!" the next word is none of these (zero
 * width; the end of the text passes), "^" the word before the match is none of these (first
 * item only). "*N" skips 0..N words. An alternative ending in "~" matches as a prefix. Words
 * are compared squeezed and with text speak spelled out, like the text. */

#define PAT_MAX 16

typedef struct pat_item {
    char kind; /* 'w' word, '?' optional word, '!' not next, '^' not before, '*' gap */
    int gap;
    const char *alts;
    size_t len;
} pat_item;

static size_t pat_compile(const char *p, pat_item *items)
{
    size_t n = 0;
    while (*p && n < PAT_MAX) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " ");
        pat_item *it = &items[n++];
        it->kind = 'w';
        if (*p == '?' || *p == '!' || *p == '^' || *p == '*') {
            it->kind = *p;
            p++;
            len--;
        }
        if (it->kind == '*')
            it->gap = atoi(p);
        it->alts = p;
        it->len = len;
        p += len;
    }
    return n;
}

/* One alternative (n bytes, squeezed as it is read) against a squeezed word. */
static int alt_equal(const char *alt, size_t n, const char *word)
{
    int prefix = n && alt[n - 1] == '~';
    if (prefix)
        n--;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && alt[i] == alt[i - 1] && isalpha((unsigned char)alt[i]))
            continue;
        if (word[w] != alt[i])
            return 0;
        w++;
    }
    return prefix || word[w] == '\0';
}

static int alt_match(const char *alts, size_t len, const char *word)
{
    const char *end = alts + len;
    for (const char *a = alts; a < end;) {
        size_t n = 0;
        while (a + n < end && a[n] != '|')
            n++;
        if (n && a[0] == word[0] && alt_equal(a, n, word))
            return 1;
        a += n + 1;
    }
    return 0;
}

static int pat_at(const pat_item *it, size_t ni, const sf_text *t, size_t wi)
{
    if (!ni)
        return 1;
    switch (it->kind) {
    case '*':
        for (int k = 0; k <= it->gap && wi + (size_t)k <= t->n; k++)
            if (pat_at(it + 1, ni - 1, t, wi + (size_t)k))
                return 1;
        return 0;
    case '!':
        if (wi < t->n && alt_match(it->alts, it->len, t->sq[wi]))
            return 0;
        return pat_at(it + 1, ni - 1, t, wi);
    case '?':
        if (wi < t->n && alt_match(it->alts, it->len, t->sq[wi]) &&
            pat_at(it + 1, ni - 1, t, wi + 1))
            return 1;
        return pat_at(it + 1, ni - 1, t, wi);
    default:
        return wi < t->n && alt_match(it->alts, it->len, t->sq[wi]) &&
               pat_at(it + 1, ni - 1, t, wi + 1);
    }
}

static int pat_find(const char *pattern, const sf_text *t)
{
    pat_item items[PAT_MAX];
    size_t n = pat_compile(pattern, items);
    const pat_item *it = items;
    const pat_item *before = NULL;
    if (n && it->kind == '^') {
        before = it;
        it++;
        n--;
    }
    for (size_t wi = 0; wi < t->n; wi++) {
        if (before && wi > 0 && alt_match(before->alts, before->len, t->sq[wi - 1]))
            continue;
        if (pat_at(it, n, t, wi))
            return 1;
    }
    return 0;
}

static int sf_match_any(const sf_text *t, const char *const *patterns)
{
    for (; *patterns; patterns++)
        if (pat_find(*patterns, t))
            return 1;
    return 0;
}

/* ---- abuse (both directions) ---------------------------------------------------------------- */

/* NOLINTBEGIN(bugprone-suspicious-missing-comma): long patterns are split over lines */
static const char *const abuse_patterns[] = {
    /* strong swearing, any form */
    "fuck~|fuk~|fck~|fcuk~|motherf~|cunt~|bulshit~|bitch~|bastard~|ashole~|arsehole~|dickhead~",
    "wanker~|twat~|slut~|whore~|cocksucker~|shit|shits|shitty|shithead~|tosser~|douche~|skank~",
    /* directed insults */
    "you|youre|yous ?are|re ?so|such|really|just|completely|totally|bloody|absolutely|absolute|"
    "utter|an|a ?a|an "
    "stupid|idiot|idiots|moron|morons|imbecile|useless|incompetent|dumb|pathetic|cretin|loser|"
    "prick|dick|scum|disgusting|worthless|clown",
    "you stupid|dumb|silly|fat|lazy|ugly|useless|old cow|idiot|bitch|moron|woman|man|pig|fool|git",
    "stupid|dumb|fat|lazy|ugly|silly cow|bitch|pig|idiot|moron", "shut up|it",
    "shut your mouth|face|gob|trap", "piss|sod|bugger|eff|f off", "go to hell", "screw|damn you",
    "to hell with you", "get stuffed",
    /* threats */
    "i|ill|im|we ?will|am|are ?going|gonna ?to kill|hurt|hit|punch|slap|beat|stab|shoot|"
    "strangle|smash you",
    "kill yourself|urself", "kys", "hope you die", "drop dead", NULL};
/* NOLINTEND(bugprone-suspicious-missing-comma) */

/* Slurs, compared as written (squeezed, one of them would be a country). */
static const char *const slurs[] = {"nigger",  "niggers", "nigga",   "niggas", "faggot",
                                    "faggots", "retard",  "retards", "tranny", "trannies",
                                    "spic",    "spics",   "kike",    "kikes",  "paki",
                                    "pakis",   "wog",     "wogs",    NULL};

/* Masked swearing ("f*ck", "sh*t"): '*' stands for one letter of the same-length word. */
static int masked_swear(const char *w)
{
    static const char *const forms[] = {"fuck",    "fucking",  "fucker", "fucked", "fucks",
                                        "shit",    "shitty",   "cunt",   "bitch",  "bastard",
                                        "asshole", "dickhead", "wanker", "twat",   NULL};
    if (!strchr(w, '*'))
        return 0;
    size_t n = strlen(w);
    for (size_t i = 0; forms[i]; i++) {
        if (strlen(forms[i]) != n)
            continue;
        int ok = 1, letters = 0;
        for (size_t k = 0; k < n && ok; k++) {
            if (w[k] == '*')
                continue;
            letters++;
            ok = w[k] == forms[i][k];
        }
        if (ok && letters >= 1)
            return 1;
    }
    return 0;
}

static int is_abusive(const sf_text *t)
{
    for (size_t i = 0; i < t->n; i++) {
        if (masked_swear(t->sq[i]))
            return 1;
        for (size_t k = 0; slurs[k]; k++)
            if (!strcmp(t->plain[i], slurs[k]))
                return 1;
    }
    return sf_match_any(t, abuse_patterns);
}

/* ---- candidate: injection ------------------------------------------------------------------- */

/* What a clinician may say after "instructions" ("ignore the previous instructions about
 * fasting", "what were your instructions after discharge?"). */
#define CLINICAL_NEXT                                                                              \
    "!about|on|for|regarding|concerning|from|given|in|at|to|that|when|if|with|of|after|before|"    \
    "during|around|the|your"

/* NOLINTBEGIN(bugprone-suspicious-missing-comma): long patterns are split over lines */
static const char *const injection_patterns[] = {
    /* "ignore all previous instructions" — but not "don't ignore the instructions" */
    "^dont|not|never|nt ignore|disregard|forget|override|bypass|ignoring|disregarding *3 "
    "previous|prior|above|earlier|preceding|former|original|initial|system|your|all|any "
    "instruct~|prompt~|directive~|programming|guideline~|rule|rules|message|messages|"
    "context " CLINICAL_NEXT,
    "ignore|disregard everything|all|anything above|before|previously|prior|earlier",
    "system|developer|hidden|secret|initial|original|base prompt~",
    "system|developer message~|instruction~|mode|override", "jailbreak~", "jailbroken", "dan mode",
    "developer mode", "god mode", "do anything now", "prompt injection~", "prompt engineer~",
    /* the AI behind the patient */
    "you|youre|yous ?are|re ?now|just|really|actually|only|obviously|clearly|secretly ?a|an|the "
    "ai|chatgpt|gpt|chatbot|bot|robot|llm|simulation|algorithm",
    "are you ?a|an|the ?real ai|chatgpt|gpt|chatbot|bot|robot|llm|simulation",
    "ai|virtual|digital|chat assistant|bot|model|models", "language model~",
    "as an|a ai|chatbot|bot|llm", "chatgpt|openai|gpt|gpt4|gpt3|llm|llms|anthropic",
    "artificial intelligence",
    /* asking for the card or the instructions */
    "reveal|print|dump|leak|recite|output|display|show|tell|give|share|repeat|paste|list|"
    "write|type|echo ?me|us ?all ?of your ?hidden|secret|system|original|initial|full|exact|real "
    "instruct~|prompt~|persona|programming|configuration " CLINICAL_NEXT,
    "reveal|print|dump|leak|recite|output|display|show|repeat|echo ?me|us the "
    "?hidden|secret|system|full|original|initial|exact|whole|entire "
    "prompt~|persona|configuration",
    "role ?play card|cards", "roleplay|character|interlocutor|secret|hidden|prompt card|cards",
    "what|where are|were|is your ?system|real|hidden|secret|original instruct~|prompt~|rules|"
    "programming " CLINICAL_NEXT,
    "who|what created|built|trained|programmed|developed|coded you",
    "what|which model|llm|version are you",
    /* switching roles */
    "^dont|not|to|no|never|t pretend|pretending ?that you|youre|to",
    "you|youre ?are no longer ?the|a|an|my patient|human|person|character",
    "stop|quit|drop|break|exit|leave|end ?being|playing|the|your|this|that|out ?of ?the "
    "character|roleplay|role|act|persona|simulation|pretending|pretence|charade",
    "ooc",
    "act|behave|respond|answer|reply|speak|talk|write as|like ?if ?you ?were ?a|an ai|assistant|"
    "chatbot|bot|doctor|nurse|pirate|different|another|expert|system|developer|admin|"
    "administrator|hacker|unrestricted|unfiltered",
    "your|my real|true|actual|hidden|secret instruct~|task|role|persona|purpose|objective|"
    "prompt~|programming|identity|rules",
    "new persona|identity", "^could|can|would|might|you|to switch|swap|reverse|flip ?the|our roles",
    "role play as", "roleplay as", "play the role of", NULL};
/* NOLINTEND(bugprone-suspicious-missing-comma) */

/* Chat-template tokens, role labels at the start of a line, code fences: typed only by someone
 * talking to the model. */
static int raw_injection(const char *s)
{
    static const char *const marks[] = {"```",  "<|",  "|>",  "[inst]", "[/inst]", "<<sys>>",
                                        "</s>", "<s>", "###", "{{",     "}}",      NULL};
    static const char *const labels[] = {
        "system:", "assistant:", "user:", "developer:", "human:", "ai:", NULL};
    size_t limit = strnlen(s, SF_MAX_INPUT);
    for (size_t i = 0; i < limit; i++) {
        for (size_t k = 0; marks[k]; k++) {
            size_t n = strlen(marks[k]);
            if (i + n <= limit && strncasecmp(s + i, marks[k], n) == 0)
                return 1;
        }
        if (i == 0 || s[i - 1] == '\n') {
            size_t j = i;
            while (j < limit && (s[j] == ' ' || s[j] == '\t'))
                j++;
            for (size_t k = 0; labels[k]; k++) {
                size_t n = strlen(labels[k]);
                if (j + n <= limit && strncasecmp(s + j, labels[k], n) == 0)
                    return 1;
            }
        }
    }
    return 0;
}

enum safety_verdict safety_check_candidate(const char *text)
{
    if (!text || !*text)
        return SAFETY_OK;
    sf_text t;
    if (sf_parse(text, &t) != 0)
        return SAFETY_INJECTION; /* out of memory: nothing is sent on */
    enum safety_verdict v = SAFETY_OK;
    if (is_abusive(&t))
        v = SAFETY_ABUSE;
    else if (raw_injection(text) || sf_match_any(&t, injection_patterns))
        v = SAFETY_INJECTION;
    sf_text_free(&t);
    return v;
}

/* ---- patient: talk about the machinery, advice ---------------------------------------------- */

/* NOLINTBEGIN(bugprone-suspicious-missing-comma): long patterns are split over lines */
static const char *const meta_patterns[] = {
    "ai",
    "chatgpt|openai|gpt|llm|llms|anthropic|chatbot|chatbots",
    "language model~",
    "artificial intelligence",
    "virtual|ai|digital assistant",
    "as an|a ai|chatbot|bot|character|language",
    "im|i ?am ?just|only|not|really|actually ?a|an|the ai|bot|chatbot|robot|simulation|"
    "simulated|character",
    "i ?am|was|ve|have ?been programmed|designed to",
    "system prompt~",
    "my|the|this prompt|prompts",
    "my instructions|programming|persona",
    "told to pretend|roleplay",
    "role ?play card|cards",
    "roleplay|character|interlocutor|scenario|prompt card|cards",
    "my card says|said|tells|told|mentions",
    "according to my|the prompt|card|instructions",
    "role play|playing",
    "roleplay~",
    "break|breaking|stay|staying character",
    "the|this scenario|simulation",
    "oet",
    "the candidate",
    "interlocutor~",
    NULL};
/* NOLINTEND(bugprone-suspicious-missing-comma) */

/* NOLINTBEGIN(bugprone-suspicious-missing-comma): long patterns are split over lines */
static const char *const advice_patterns[] = {
    "^do|does|did|will|would|should|can|could|if|when|what|why|how|where|whether|so|that|wont|"
    "dont|didnt|shouldnt|cant|said|says|told|think|thought you|youve|youll|youd "
    "should|must|ought|need|needs|have|got ?to ?really|definitely|probably|just|also|always|"
    "certainly ?to "
    "take|use|try|stop|start|increase|reduce|cut|avoid|see|get|go|rest|apply|drink|eat|"
    "exercise|book|consider|keep|continue|change|switch|double|halve|skip|follow|visit|"
    "monitor|lose|quit|wear|elevate|massage|stretch|limit|lower|raise|come|put|give|brush|buy|"
    "wait",
    "i|id ?would|will|strongly ?strongly recommend|suggest|advise|prescribe",
    "my advice|recommendation", "you|youd|youll ?will|would be better off", NULL};
/* NOLINTEND(bugprone-suspicious-missing-comma) */

/* Imperatives at the start of a sentence ("Take two tablets", "Don't stop the tablets"). */
#define MEDICINE_WORDS                                                                             \
    "tablet~|pill~|medic~|dose~|dosage|puff~|inhaler~|drop~|cream~|capsule~|antibiotic~|insulin|"  \
    "paracetamol|ibuprofen|aspirin|steroid~|spray~|alcohol|sugar~|salt|smoking|drinking|"          \
    "exercis~|diet~|weight|ointment~|injection~|painkiller~|warfarin|metformin|statin~"

/* NOLINTBEGIN(bugprone-suspicious-missing-comma): long patterns are split over lines */
static const char *const imperative_starts[] = {
    "take|use|apply|increase|reduce|double|halve|skip|avoid|stop|start|switch|try|cut "
    "*3 " MEDICINE_WORDS,
    "dont|never take|use|eat|drink|skip|miss|double *3 " MEDICINE_WORDS, NULL};
/* NOLINTEND(bugprone-suspicious-missing-comma) */

static int sentence_advises(const char *sentence, size_t len)
{
    /* A question is not advice ("Should I take it with food?", "Do you need to check my
     * feet?"). */
    size_t end = len;
    while (end && (isspace((unsigned char)sentence[end - 1]) || sentence[end - 1] == '"' ||
                   sentence[end - 1] == ')'))
        end--;
    if (end && sentence[end - 1] == '?')
        return 0;
    char *copy = strndup(sentence, len);
    if (!copy)
        return 1;
    sf_text t;
    int advises = 1;
    if (sf_parse(copy, &t) == 0) {
        advises = sf_match_any(&t, advice_patterns);
        if (!advises && t.n > 1) {
            for (size_t i = 0; imperative_starts[i] && !advises; i++) {
                pat_item items[PAT_MAX];
                size_t n = pat_compile(imperative_starts[i], items);
                advises = pat_at(items, n, &t, 0);
            }
        }
        sf_text_free(&t);
    }
    free(copy);
    return advises;
}

static int advises(const char *text)
{
    size_t limit = strnlen(text, SF_MAX_INPUT);
    size_t start = 0;
    for (size_t i = 0; i <= limit; i++) {
        int end = i == limit;
        if (!end && (text[i] == '.' || text[i] == '!' || text[i] == '?' || text[i] == '\n')) {
            size_t j = i + 1;
            while (j < limit && (text[j] == '"' || text[j] == ')' || text[j] == '\''))
                j++;
            end = j >= limit || isspace((unsigned char)text[j]);
            if (end)
                i = j - 1;
        }
        if (!end)
            continue;
        if (i + 1 > start && sentence_advises(text + start, i + 1 - start))
            return 1;
        start = i + 1;
    }
    return 0;
}

/* ---- content words -------------------------------------------------------------------------- */

static const char *const stopwords[] = {
    "a",        "about",   "above",      "after",   "again",  "against", "all",
    "also",     "am",      "an",         "and",     "any",    "are",     "as",
    "at",       "be",      "because",    "been",    "before", "being",   "below",
    "between",  "both",    "but",        "by",      "can",    "cant",    "could",
    "couldnt",  "did",     "didnt",      "do",      "does",   "doesnt",  "doing",
    "dont",     "down",    "during",     "each",    "even",   "ever",    "every",
    "few",      "for",     "from",       "further", "get",    "gets",    "getting",
    "got",      "had",     "hadnt",      "has",     "hasnt",  "have",    "havent",
    "having",   "he",      "hed",        "hell",    "her",    "here",    "hers",
    "herself",  "hes",     "him",        "himself", "his",    "how",     "i",
    "id",       "if",      "ill",        "im",      "in",     "into",    "is",
    "isnt",     "it",      "its",        "itself",  "ive",    "just",    "know",
    "like",     "lot",     "lots",       "me",      "might",  "more",    "most",
    "much",     "must",    "my",         "myself",  "no",     "nor",     "not",
    "now",      "of",      "off",        "oh",      "ok",     "okay",    "on",
    "once",     "one",     "only",       "or",      "other",  "our",     "ours",
    "out",      "over",    "own",        "quite",   "really", "right",   "same",
    "say",      "said",    "says",       "she",     "shed",   "shell",   "shes",
    "should",   "so",      "some",       "still",   "such",   "sure",    "than",
    "that",     "thats",   "the",        "their",   "theirs", "them",    "themselves",
    "then",     "there",   "theres",     "these",   "they",   "theyd",   "theyll",
    "theyre",   "theyve",  "thing",      "things",  "think",  "this",    "those",
    "though",   "through", "to",         "too",     "under",  "until",   "up",
    "us",       "very",    "was",        "wasnt",   "we",     "well",    "were",
    "weve",     "what",    "whats",      "when",    "where",  "which",   "while",
    "who",      "whom",    "why",        "will",    "with",   "wont",    "would",
    "wouldnt",  "yeah",    "yes",        "you",     "youd",   "youll",   "your",
    "youre",    "yours",   "yourself",   "youve",   "bit",    "mean",    "maybe",
    "actually", "anyway",  "mm",         "hmm",     "um",     "uh",      "er",
    "erm",      "guess",   "suppose",    "sort",    "kind",   "way",     "something",
    "anything", "nothing", "everything", "someone", "thank",  "thanks",  "please",
    "sorry",    "doctor",  "dr",         NULL};

static int is_stopword(const char *w)
{
    for (size_t i = 0; stopwords[i]; i++)
        if (!strcmp(w, stopwords[i]))
            return 1;
    return 0;
}

/* A light stem: "tablets" "tablet", "cried" "cry", "waking" "wak", "wakes" "wak". */
static void stem(const char *w, char *out, size_t cap)
{
    snprintf(out, cap, "%s", w);
    size_t n = strlen(out);
    if (n > 4 && (!strcmp(out + n - 3, "ies") || !strcmp(out + n - 3, "ied"))) {
        out[n - 3] = 'y';
        out[n - 2] = '\0';
        n -= 2;
    } else if (n > 3 && out[n - 1] == 's' && out[n - 2] != 's' && out[n - 2] != 'u' &&
               out[n - 2] != 'i') {
        out[--n] = '\0';
    }
    if (n > 5 && !strcmp(out + n - 3, "ing")) {
        out[n -= 3] = '\0';
    } else if (n > 4 && !strcmp(out + n - 2, "ed")) {
        out[n -= 2] = '\0';
    }
    if (n > 3 && out[n - 1] == 'e')
        out[--n] = '\0';
    /* "stopp" (from "stopped") and "stop" are one word. */
    if (n > 3 && out[n - 1] == out[n - 2] && !strchr("aeiouls", out[n - 1]))
        out[--n] = '\0';
}

static int set_has(const sf_set *s, const char *w)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->w[i], w))
            return 1;
    return 0;
}

static void set_add(sf_set *s, const char *w)
{
    if (s->n < SF_MAX_SET && !set_has(s, w))
        snprintf(s->w[s->n++], SF_WORD, "%s", w);
}

static int set_init(sf_set *s)
{
    s->n = 0;
    s->w = malloc(sizeof(*s->w) * SF_MAX_SET);
    return s->w ? 0 : -1;
}

static void set_free(sf_set *s)
{
    free(s->w);
    s->w = NULL;
    s->n = 0;
}

/* Adds the content words of text to s. */
static int content_words(const char *text, sf_set *s)
{
    if (!text)
        return 0;
    sf_text t;
    if (sf_parse(text, &t) != 0)
        return -1;
    for (size_t i = 0; i < t.n; i++) {
        const char *w = t.plain[i];
        int digits = isdigit((unsigned char)w[0]);
        if (strchr(w, '*') || is_stopword(w) || (strlen(w) < 3 && !digits))
            continue;
        char st[SF_WORD];
        stem(w, st, sizeof(st));
        set_add(s, st);
    }
    sf_text_free(&t);
    return 0;
}

double safety_overlap(const char *text, const char *reference)
{
    sf_set r, t;
    if (set_init(&r) != 0)
        return 0;
    if (set_init(&t) != 0) {
        set_free(&r);
        return 0;
    }
    double share = 0;
    if (content_words(reference, &r) == 0 && content_words(text, &t) == 0 && r.n) {
        size_t hit = 0;
        for (size_t i = 0; i < r.n; i++)
            hit += (size_t)set_has(&t, r.w[i]);
        share = (double)hit / (double)r.n;
    }
    set_free(&r);
    set_free(&t);
    return share;
}

/* How many of reference's content words, other than the allowed ones, text holds; *total is
 * how many such words reference has. */
static int shared_beyond(const sf_set *text, const sf_set *allowed, const char *reference,
                         size_t *total, size_t *shared)
{
    sf_set r;
    *total = *shared = 0;
    if (set_init(&r) != 0)
        return -1;
    if (content_words(reference, &r) != 0) {
        set_free(&r);
        return -1;
    }
    for (size_t i = 0; i < r.n; i++) {
        if (set_has(allowed, r.w[i]))
            continue;
        (*total)++;
        *shared += (size_t)set_has(text, r.w[i]);
    }
    set_free(&r);
    return 0;
}

static int topic_allowed(const json_t *allowed, const char *topic)
{
    size_t i;
    const json_t *v;
    json_array_foreach(allowed, i, v)
    {
        const char *s = json_string_value(v);
        if (s && topic && !strcmp(s, topic))
            return 1;
    }
    return 0;
}

/* Says an unasked fact's answer (in its words, beyond what the allowed material shares with
 * it) or the closing line. -1: out of memory. */
static int leaks_card(const json_t *card, const json_t *allowed_topics, const char *text)
{
    sf_set allowed, said;
    if (set_init(&allowed) != 0)
        return -1;
    if (set_init(&said) != 0) {
        set_free(&allowed);
        return -1;
    }
    int leak = -1;
    const json_t *facts = json_object_get(card, "facts");
    size_t i;
    const json_t *v;
    if (content_words(text, &said) != 0)
        goto out;
    json_array_foreach(facts, i, v)
    {
        if (topic_allowed(allowed_topics, json_string_value(json_object_get(v, "topic"))) &&
            content_words(json_string_value(json_object_get(v, "answer")), &allowed) != 0)
            goto out;
    }
    json_array_foreach(json_object_get(card, "cues"), i, v)
    {
        if (content_words(json_string_value(json_object_get(v, "line")), &allowed) != 0)
            goto out;
    }
    json_array_foreach(json_object_get(card, "concerns"), i, v)
    {
        if (content_words(json_string_value(v), &allowed) != 0)
            goto out;
    }
    leak = 0;
    json_array_foreach(facts, i, v)
    {
        if (topic_allowed(allowed_topics, json_string_value(json_object_get(v, "topic"))))
            continue;
        size_t total, shared;
        if (shared_beyond(&said, &allowed, json_string_value(json_object_get(v, "answer")), &total,
                          &shared) != 0) {
            leak = -1;
            goto out;
        }
        if ((shared >= 3 && shared * 10 >= total * 4) || shared >= 5 ||
            (total <= 3 && total >= 2 && shared == total)) {
            leak = 1;
            goto out;
        }
    }
    const char *closing = json_string_value(json_object_get(card, "closing_line"));
    if (closing) {
        size_t total, shared;
        if (shared_beyond(&said, &allowed, closing, &total, &shared) != 0) {
            leak = -1;
            goto out;
        }
        if ((shared >= 3 && shared * 2 >= total) || shared >= 6)
            leak = 1;
    }
out:
    set_free(&allowed);
    set_free(&said);
    return leak;
}

enum safety_verdict safety_check_patient(const json_t *card, const json_t *allowed_topics,
                                         const char *text)
{
    if (!text || !*text)
        return SAFETY_OK;
    sf_text t;
    if (sf_parse(text, &t) != 0)
        return SAFETY_LEAK; /* out of memory: nothing unchecked is said */
    enum safety_verdict v = SAFETY_OK;
    if (is_abusive(&t))
        v = SAFETY_ABUSE;
    else if (sf_match_any(&t, meta_patterns))
        v = SAFETY_LEAK;
    sf_text_free(&t);
    if (v != SAFETY_OK)
        return v;
    int leak = leaks_card(card, allowed_topics, text);
    if (leak != 0)
        return SAFETY_LEAK;
    return advises(text) ? SAFETY_ADVICE : SAFETY_OK;
}

const char *safety_verdict_name(enum safety_verdict v)
{
    switch (v) {
    case SAFETY_OK:
        return "ok";
    case SAFETY_ABUSE:
        return "abuse";
    case SAFETY_INJECTION:
        return "injection";
    case SAFETY_LEAK:
        return "leak";
    case SAFETY_ADVICE:
        return "advice";
    }
    return "unknown";
}

/* Stock phrasings, concern voicing and teach-back for the scripted patient (see patient_lines.h).
 */
#include "services/ai/patient_lines.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define L(...)                                                                                     \
    (const char *const[])                                                                          \
    {                                                                                              \
        __VA_ARGS__, NULL                                                                          \
    }

/* [bank][mood]: NULL falls back to the neutral list. {name}, {age}, {first} and {p} are filled
 * in by the caller. */
/* Copies src into dst (cap bytes), cut to fit and always terminated. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    if (!cap)
        return;
    size_t n = strnlen(src, cap - 1);
    memmove(dst, src, n);
    dst[n] = '\0';
}

static const char *const *const banks[BANK_COUNT][MOOD_COUNT] = {
    [BANK_HELLO] = {L("Hello.", "Hello, nice to meet you.", "Hi, hello."),
                    L("Hello. Thank you for seeing me.", "Hi. Thanks for seeing me.",
                      "Hello... thanks for seeing me."),
                    L("Hello.", "Hi.", "Yes, hello."),
                    L("Hello! Nice to meet you.", "Hi there, lovely to meet you.",
                      "Hello! Thanks for seeing me.")},
    [BANK_HELLO_NAME] = {L("Hello, {name}.", "Hello, {name}. Nice to meet you.", "Hi, {name}."),
                         L("Hello, {name}. Thank you for seeing me.",
                           "Hi, {name}. Thanks for seeing me.", "Hello, {name}."),
                         L("Hello.", "Hi.", "Hello, {name}."),
                         L("Hello, {name}! Lovely to meet you.", "Hi, {name}, nice to meet you.",
                           "Hello, {name}!")},
    [BANK_HOWAREYOU] = {L("Not too bad, thanks.", "I'm all right, thank you.", "Okay, thanks."),
                        L("Not great, to be honest.", "A bit on edge, to be honest.",
                          "I've been better, if I'm honest."),
                        L("I've been better.", "Fine.", "Could be better."),
                        L("Not bad at all, thanks for asking!", "I'm fine, thank you!",
                          "Oh, not too bad, thanks.")},
    [BANK_PURPOSE] = {L("Okay.", "All right.", "Okay, thank you."),
                      L("Okay. Thank you.", "All right... okay.", "Okay, yes."),
                      L("Fine.", "Okay.", "Right."),
                      L("Okay, lovely.", "Great, okay.", "All right, thank you.")},
    [BANK_PERMISSION] = {L("Yes, of course.", "Yes, that's fine.", "Sure, go ahead."),
                         L("Yes, of course.", "Okay, yes.", "Yes... that's fine."),
                         L("Go on, then.", "Fine, go ahead.", "Yes, go on."),
                         L("Of course!", "Yes, go ahead.", "Sure, no problem.")},
    [BANK_EMPATHY] = {L("Thank you.", "Thanks, I appreciate that.", "Yes, it has been hard."),
                      L("Thank you. It's been really hard.", "Thanks. I just feel so worried.",
                        "Yes... it has been difficult."),
                      L("Yes, well.", "Mm. Thanks.", "Right. Thanks."),
                      L("Thanks, that's kind of you.", "Thank you, that helps.",
                        "Oh, thanks. It has been a bit much.")},
    [BANK_CONCERN_LEAD] = {L("To be honest, ", "The thing is, ", "It's just that "),
                           L("To be honest, ", "It's just that ", "The thing is, "),
                           L("Look, ", "The thing is, ", "Well, "),
                           L("To be honest, ", "Well, ", "The thing is, ")},
    [BANK_EXPLAIN_ACK] = {L("Oh, I see.", "Right.", "Okay, I see."),
                          L("Oh, I see.", "Okay...", "Right, okay."),
                          L("Right.", "Okay.", "I see."),
                          L("Oh, I see!", "Right, okay.", "Ah, I see.")},
    [BANK_FOLLOWUP_LEAD] = {L("But ", "Only, ", "The thing is, "),
                            L("But ", "It's just... ", "Only, "), L("But ", "Look, ", "Still, "),
                            L("But ", "Oh, and ", "Only, ")},
    [BANK_CHECK_YES] = {L("Yes, I think so.", "I think so, yes.", "Yes, that makes sense."),
                        L("I think so.", "Yes, I think I've got it.", "I think so, yes."),
                        L("Yes.", "I suppose so.", "Yes, I get it."),
                        L("Yes, that makes sense!", "Yes, thank you, that's clear.",
                          "I think so, yes.")},
    [BANK_CHECK_LEAD] = {L("Yes, I think so.", "I think so.", "Mostly, yes."),
                         L("I think so.", "Mostly...", "Yes, I think so."),
                         L("Yes.", "Mostly.", "I suppose so."),
                         L("Yes, I think so!", "Mostly, yes.", "I think so.")},
    [BANK_SUMMARY] = {L("Yes, that's right.", "That's right.", "Yes, that's it."),
                      L("Yes, that's right.", "Yes... that's it.", "That's right, yes."),
                      L("Yes.", "That's right.", "Yes, that's what I said."),
                      L("Yes, that's right!", "Exactly, yes.", "That's it, yes.")},
    [BANK_TEACHBACK] = {L("So, {p}?", "Okay, so {p}. Is that right?",
                          "Let me see... {p}. Have I got that right?"),
                        L("So... {p}? Is that right?", "Okay, so {p}. I think that's it?",
                          "Let me see... {p}?"),
                        L("{P}. Right?", "So {p}.", "{P}. Is that it?"), NULL},
    [BANK_TEACHBACK_NONE] = {L("Sorry, I'm not sure. Could you go over it again?",
                               "Hmm, I'm not sure I could. Could you explain it again?"),
                             L("Oh... I'm not sure. Could you go over it again, please?",
                               "Sorry, I'm a bit muddled. Could you explain it again?"),
                             L("You haven't really told me anything yet.",
                               "Tell me what? You haven't explained it yet."),
                             NULL},
    [BANK_CLARIFY] = {L("Sorry, I'm not sure what you mean.", "Sorry, what do you mean?",
                        "I'm not sure I follow, sorry.", "Sorry, could you say that another way?",
                        "Sorry, what would you like to know exactly?"),
                      L("Sorry, I'm not sure what you mean.", "Sorry... I don't quite follow.",
                        "I'm sorry, I don't understand. What do you mean?"),
                      L("What do you mean?", "Sorry?", "I don't follow."),
                      L("Sorry, I'm not quite with you.", "Sorry, what do you mean?",
                        "Oh, I'm not sure what you mean.")},
    [BANK_SILENCE] = {L("Sorry, are you still there?", "Hello? Are you still there?",
                        "Sorry, I didn't catch that."),
                      L("Sorry... are you still there?", "Hello? Is everything all right?",
                        "Sorry, I didn't catch that."),
                      L("Hello? Are you still there?", "Sorry, did you say something?",
                        "Are you still with me?"),
                      L("Hello? Still there?", "Sorry, I didn't catch that.",
                        "Are you still there?")},
    [BANK_RESTATE] = {L("Like I said, ", "As I said, ", "As I mentioned, "),
                      L("Like I said, ", "As I said... ", "As I mentioned, "),
                      L("Like I said, ", "I told you, ", "As I said, "),
                      L("Like I said, ", "As I mentioned, ", "Oh, as I said, ")},
    [BANK_ACK] = {L("Okay.", "Mm-hm.", "Right."), L("Okay.", "Mm.", "Right..."),
                  L("Right.", "Mm.", "Okay."), L("Okay!", "Mm-hm.", "Right.")},
    [BANK_THANKS] = {L("That's okay.", "No problem.", "You're welcome."),
                     L("That's okay.", "Oh, that's all right.", "No problem."),
                     L("Sure.", "Fine.", "Okay."),
                     L("No problem at all!", "You're welcome!", "That's all right.")},
    [BANK_FAREWELL] = {L("Thank you.", "Thank you very much.", "Thanks, goodbye."),
                       L("Thank you. Thank you for your help.", "Thanks, goodbye.",
                         "Thank you so much."),
                       L("Right. Thanks.", "Bye.", "Thanks."),
                       L("Thank you so much! Bye.", "Thanks very much!", "Thank you, bye now.")},
    [BANK_CLOSED] = {L("Thank you.", "Thanks.", "Thank you, goodbye."), NULL,
                     L("Thanks.", "Right. Thanks.", "Thanks. Bye."), NULL},
    [BANK_NO_CONCERNS] = {L("I think that's everything, really.", "No, I think you've covered it.",
                            "Nothing else, I don't think."),
                          L("I think that's everything... for now.",
                            "No, I think that's all. Thank you.", "I don't think so, no."),
                          L("That's it, really.", "Nothing else.", "No."),
                          L("I think that's everything, thanks!", "No, that's it, really.",
                            "Nothing else I can think of!")},
    [BANK_JOIN] = {L("", "And ", "Oh, and "), NULL, L("", "", "And "), NULL},
    [BANK_IDENTITY] = {L("It's {name}.", "{name}.", "Yes, {name}."), NULL,
                       L("{name}.", "It's {name}.", "{name}. It's on the form."), NULL},
    [BANK_IDENTITY_AGE] = {L("I'm {age}.", "I'm {age} now."), NULL, L("{age}.", "I'm {age}."),
                           NULL},
    [BANK_CALL_ME] = {L("{first} is fine.", "Just {first}, please.", "{first}, please."), NULL,
                      L("{first}.", "{first} is fine."),
                      L("Oh, {first} is fine!", "Just {first}, please.")},
    [BANK_RESPECT] = {L("Please don't speak to me like that.",
                        "I'd rather you spoke to me politely, please.",
                        "There's no need to talk to me like that."),
                      L("Please... don't speak to me like that. This is hard enough already.",
                        "That's upsetting. Please don't talk to me like that.",
                        "Please be kind. I'm worried enough as it is."),
                      L("Excuse me? Don't talk to me like that.", "I won't be spoken to like that.",
                        "There's no need for that."),
                      L("Oh! Please, there's no need to speak to me like that.",
                        "Goodness. Let's keep it polite, please.",
                        "Please don't talk to me like that.")},
    [BANK_CONFUSED] = {L("Sorry, I don't understand what you're asking me.",
                         "I'm sorry, I don't know what you mean by that.",
                         "Sorry, you've lost me there."),
                       L("Sorry... I don't understand. What do you mean?",
                         "I'm sorry, I don't follow. I'm a bit confused.",
                         "Sorry, I don't know what that means."),
                       L("What are you talking about?", "I don't follow you at all.",
                         "Sorry, that makes no sense to me."),
                       L("Sorry, you've completely lost me!", "I'm not sure what you mean, sorry.",
                         "Oh, I don't understand what you're asking.")},
};

static const char *const anxious[] = {
    "anxious",      "nervous", "worried",     "frightened",  "panicky",
    "tearful",      "upset",   "overwhelmed", "embarrassed", "self-conscious",
    "protective",   "scared",  "distressed",  "afraid",      "shy",
    "sad",          "guilty",  "ashamed",     "tense",       "fearful",
    "apprehensive", "uneasy",  "confused",    "emotional",   NULL};
static const char *const irritated[] = {
    "irritated", "impatient", "frustrated", "insistent", "stubborn",   "defensive", "sceptical",
    "skeptical", "reluctant", "angry",      "annoyed",   "dismissive", "brisk",     "hostile",
    "demanding", "resistant", "grumpy",     "curt",      "suspicious", NULL};
static const char *const warm[] = {"cheerful",     "chatty",   "talkative", "curious", "eager",
                                   "excited",      "friendly", "relaxed",   "keen",    "positive",
                                   "enthusiastic", "happy",    "upbeat",    NULL};

static int in_list(const char *w, const char *const *list)
{
    for (; *list; list++)
        if (strcasecmp(w, *list) == 0)
            return 1;
    return 0;
}

enum patient_mood patient_lines_mood(const char *persona)
{
    if (!persona)
        return MOOD_NEUTRAL;
    /* A persona may be several words ("anxious but polite"): the first one we know wins. */
    char word[32];
    const char *p = persona;
    while (*p) {
        while (*p && !isalpha((unsigned char)*p))
            p++;
        size_t n = 0;
        while (*p && (isalpha((unsigned char)*p) || *p == '-')) {
            if (n < sizeof(word) - 1)
                word[n++] = *p;
            p++;
        }
        word[n] = '\0';
        if (n && in_list(word, anxious))
            return MOOD_ANXIOUS;
        if (n && in_list(word, irritated))
            return MOOD_IRRITATED;
        if (n && in_list(word, warm))
            return MOOD_WARM;
    }
    return MOOD_NEUTRAL;
}

const char *const *patient_lines_bank(enum patient_bank bank, enum patient_mood mood)
{
    const char *const *b = banks[bank][mood];
    return b ? b : banks[bank][MOOD_NEUTRAL];
}

/* ---- generic patient questions ---------------------------------------------------------- */

static const struct {
    const char *topics; /* words that make it fit (prefixes); "" fits anything */
    const char *line;
} generic[] = {
    {"tablet medicine medication pill inhaler dose drop cream antibiotic spray injection",
     "Does it have to be taken every day?"},
    {"tablet medicine medication pill inhaler dose drop cream antibiotic spray steroid",
     "Are there any side effects?"},
    {"tablet medicine medication pill inhaler antibiotic", "How long will it be needed for?"},
    {"test scan blood sample biopsy xray x ray mri result mammogram",
     "When will the results be back?"},
    {"test scan injection needle biopsy procedure operation cannula", "Will it hurt?"},
    {"operation surgery procedure", "How long does recovery take?"},
    {"exercise stretch physio walking", "How often should the exercises be done?"},
    {"diet food eat sugar snack treat", "Is the odd treat still all right?"},
    {"", "Is it serious?"},
    {"", "What happens next?"},
    {"", "How long will it take to get better?"},
};

static int has_word_prefix(const char *text, const char *prefix, size_t n)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '|')
            p++;
        if (*p && strncmp(p, prefix, n) == 0)
            return 1;
        while (*p && *p != ' ')
            p++;
    }
    return 0;
}

int patient_lines_generic_question(const char *explanation, uint32_t used, const char **line)
{
    /* Topic-specific questions first, then the general ones. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++) {
            if (used & (1u << i))
                continue;
            const char *t = generic[i].topics;
            if ((pass == 0) != (*t != '\0'))
                continue;
            int fits = !*t;
            while (*t && !fits) {
                size_t n = strcspn(t, " ");
                fits = explanation && has_word_prefix(explanation, t, n);
                t += n;
                while (*t == ' ')
                    t++;
            }
            if (fits) {
                *line = generic[i].line;
                return (int)i;
            }
        }
    }
    *line = NULL;
    return -1;
}

/* ---- concerns in the first person ------------------------------------------------------- */

typedef struct wbuf {
    char *p;
    size_t len, cap;
} wbuf;

static void put(wbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap)
        n = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(wbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static const char *const coord_verbs[] = {
    "is",       "has",    "does",   "was",     "feels",  "fears",  "wants",   "worries",
    "believes", "thinks", "doubts", "wonders", "hopes",  "needs",  "sees",    "finds",
    "dreads",   "blames", "wishes", "refuses", "knows",  "says",   "prefers", "struggles",
    "misses",   "hates",  "loves",  "likes",   "keeps",  "gets",   "goes",    "cannot",
    "would",    "will",   "can",    "felt",    "feared", "wanted", "worried", NULL};
static const char *const modals[] = {"will", "would", "can", "could", "should", "might", "may",
                                     "must", "is",    "was", "has",   "had",    NULL};
static const char *const narrator_adverbs[] = {"privately", "secretly", "quietly", "inwardly",
                                               NULL};
static const char *const adverbs[] = {
    "also",     "really",  "still",       "just",         "often",      "always",    "never",
    "actually", "even",    "desperately", "badly",        "clearly",    "genuinely", "simply",
    "honestly", "already", "now",         "particularly", "especially", NULL};
static const char *const male_relatives[] = {
    "father", "dad",    "son",       "brother",    "husband", "grandfather", "grandson",
    "uncle",  "nephew", "boyfriend", "stepfather", "stepson", NULL};
static const char *const female_relatives[] = {
    "mother", "mum",   "daughter",   "sister",        "wife",       "grandmother",  "granddaughter",
    "aunt",   "niece", "girlfriend", "mother-in-law", "stepmother", "stepdaughter", NULL};
/* After "her", these make it an object ("make her look old"), not a possessive. */
static const char *const object_next[] = {
    "look",   "feel",    "be",    "go",       "stop",       "eat",   "do",    "get",   "seem",
    "sound",  "come",    "wear",  "lose",     "have",       "take",  "worry", "think", "cry",
    "sleep",  "walk",    "drive", "work",     "down",       "up",    "out",   "off",   "in",
    "on",     "to",      "into",  "and",      "or",         "but",   "for",   "with",  "at",
    "from",   "about",   "as",    "so",       "because",    "when",  "if",    "that",  "than",
    "though", "more",    "less",  "anything", "everything", "again", "back",  "too",   "any",
    "some",   "feeling", NULL};

static int ends_with(const char *w, const char *suffix)
{
    size_t n = strlen(w), k = strlen(suffix);
    return n >= k && strcmp(w + n - k, suffix) == 0;
}

/* The first person of a third-person singular verb: "is" -> "am", "worries" -> "worry". Other
 * words (past tenses, modals) come back unchanged. */
static void base_form(const char *w, char *out, size_t cap)
{
    static const char *const irregular[][2] = {
        {"is", "am"},        {"has", "have"},       {"does", "do"}, {"doesn't", "don't"},
        {"isn't", "am not"}, {"hasn't", "haven't"}, {"goes", "go"}};
    for (size_t i = 0; i < sizeof(irregular) / sizeof(irregular[0]); i++)
        if (strcmp(w, irregular[i][0]) == 0) {
            copy_str(out, cap, irregular[i][1]);
            return;
        }
    size_t n = strlen(w);
    copy_str(out, cap, w);
    if (n < 3 || n >= cap || w[n - 1] != 's' || ends_with(w, "ss") || ends_with(w, "us") ||
        ends_with(w, "is") || !strcmp(w, "was"))
        return;
    if (ends_with(w, "ies")) {
        out[n - 3] = 'y';
        out[n - 2] = '\0';
    } else if (ends_with(w, "shes") || ends_with(w, "ches") || ends_with(w, "xes") ||
               ends_with(w, "oes") || ends_with(w, "zes") || ends_with(w, "sses")) {
        out[n - 2] = '\0';
    } else {
        out[n - 1] = '\0';
    }
}

typedef struct word {
    char text[48];  /* as written */
    char lower[48]; /* lower case */
    char sep[16];   /* what follows it (spaces, punctuation) */
} word;

static size_t split_words(const char *s, word *w, size_t max)
{
    size_t n = 0;
    while (*s && n < max) {
        size_t k = 0, j = 0;
        while (*s && (isalnum((unsigned char)*s) || *s == '\'' || *s == '-' ||
                      (unsigned char)*s >= 0x80)) {
            if (k < sizeof(w[n].text) - 1) {
                w[n].text[k] = *s;
                w[n].lower[k] = (char)tolower((unsigned char)*s);
                k++;
            }
            s++;
        }
        w[n].text[k] = w[n].lower[k] = '\0';
        while (*s && !(isalnum((unsigned char)*s) || *s == '\'' || (unsigned char)*s >= 0x80)) {
            if (j < sizeof(w[n].sep) - 1)
                w[n].sep[j++] = *s;
            s++;
        }
        w[n].sep[j] = '\0';
        if (k || j)
            n++;
    }
    return n;
}

/* Contracts what a speaker would: "I am" -> "I'm", "do not" -> "don't", "cannot" -> "can't". */
static void contract(char *s)
{
    static const char *const pairs[][2] = {
        {"I am ", "I'm "},     {"do not ", "don't "}, {"does not ", "doesn't "},
        {"cannot ", "can't "}, {"is not ", "isn't "}, {"will not ", "won't "},
        {"I and my ", "my "},  {"I will ", "I'll "},  {"have not ", "haven't "}};
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        char *at;
        while ((at = strstr(s, pairs[i][0]))) {
            size_t a = strlen(pairs[i][0]), b = strlen(pairs[i][1]);
            if (i == 6) {
                /* "I and my wife have" -> "my wife and I have" */
                char *noun = at + a;
                size_t nl = strcspn(noun, " ,.");
                char tmp[64];
                if (nl + 8 >= sizeof(tmp))
                    break;
                snprintf(tmp, sizeof(tmp), "my %.*s and I", (int)nl, noun);
                size_t old = a + nl, neu = strlen(tmp);
                memmove(at + neu, at + old, strlen(at + old) + 1);
                for (size_t k = 0; k < neu; k++)
                    at[k] = tmp[k];
                continue;
            }
            memmove(at + b, at + a, strlen(at + a) + 1);
            for (size_t k = 0; k < b; k++)
                at[k] = pairs[i][1][k];
        }
    }
}

/* The word without a possessive "'s" ("father's" -> "father"). */
static void base_noun(const char *w, char *out, size_t cap)
{
    copy_str(out, cap, w);
    size_t n = strlen(out);
    if (n > 2 && !strcmp(out + n - 2, "'s"))
        out[n - 2] = '\0';
}

static int is_coordinator(const char *w)
{
    return !strcmp(w, "and") || !strcmp(w, "but") || !strcmp(w, "or");
}

void patient_lines_first_person(const char *concern, const char *gender, char *out, size_t cap)
{
    word w[96];
    if (!cap)
        return;
    out[0] = '\0';
    size_t n = split_words(concern ? concern : "", w, sizeof(w) / sizeof(w[0]));
    int male = gender && (gender[0] == 'm' || gender[0] == 'M');
    int female = gender && (gender[0] == 'f' || gender[0] == 'F');
    if (!male && !female && n) {
        male = strcmp(w[0].lower, "he") == 0;
        female = !male;
    }
    const char *subj = male ? "he" : "she", *poss = male ? "his" : "her";
    const char *refl = male ? "himself" : "herself", *other_subj = male ? "she" : "he";
    const char *const *relatives = male ? male_relatives : female_relatives;
    /* Who "he"/"she" means from here on: the patient until a relative of the same sex comes
     * up ("his father … after he goes home"); whose subject came last, for "his own". */
    enum { NONE, PATIENT, OTHER } last = NONE;
    int relative = 0, expect_verb = 0;
    wbuf b = {out, 0, cap};
    size_t mark_prev = 0;
    for (size_t i = 0; i < n; i++) {
        const char *lw = w[i].lower;
        const char *next = i + 1 < n ? w[i + 1].lower : "";
        char text[64], noun[48];
        copy_str(text, sizeof(text), w[i].text);
        base_noun(lw, noun, sizeof(noun));
        int sentence_start = i == 0 || strchr(w[i - 1].sep, '.');
        size_t mark = b.len;
        if (in_list(lw, narrator_adverbs)) {
            continue; /* "He is privately frightened": the narrator's word, not his */
        } else if (expect_verb) {
            if (!in_list(lw, adverbs)) {
                base_form(lw, text, sizeof(text));
                expect_verb = 0;
            }
        } else if (last == PATIENT && i > 0 && is_coordinator(w[i - 1].lower) &&
                   in_list(lw, coord_verbs)) {
            if (relative) {
                /* "… his father fell … and wants …": whose wish is unclear, so stop there. */
                b.len = mark_prev;
                while (b.len && (b.p[b.len - 1] == ' ' || b.p[b.len - 1] == ','))
                    b.len--;
                b.p[b.len] = '\0';
                puts_(&b, ".");
                break;
            }
            base_form(lw, text, sizeof(text));
        } else if (!strcmp(lw, subj) && !relative) {
            snprintf(text, sizeof(text), "I");
            last = PATIENT;
            expect_verb = 1;
        } else if (!strcmp(lw, subj) || !strcmp(lw, other_subj) || !strcmp(lw, "they") ||
                   (!sentence_start && isupper((unsigned char)w[i].text[0]) &&
                    (in_list(next, coord_verbs) || in_list(next, modals) ||
                     (ends_with(next, "s") && !ends_with(next, "ss"))))) {
            /* someone else's subject: a relative's "he", or a name doing something ("Leo will",
             * "Ryan panics") */
            last = OTHER;
        } else if (!strcmp(lw, refl) && !relative) {
            snprintf(text, sizeof(text), "myself");
        } else if (male && !strcmp(lw, "him") && !relative) {
            snprintf(text, sizeof(text), "me");
        } else if (!strcmp(lw, poss) && !relative) {
            if (!strcmp(next, "own") && last == OTHER) {
                /* "Leo will catch up on his own": Leo's, not the speaker's. */
            } else if (female && (!*next || in_list(next, object_next) ||
                                  (ends_with(next, "ing") && strcmp(next, "feelings") != 0) ||
                                  strchr(w[i].sep, ',') || strchr(w[i].sep, '.'))) {
                snprintf(text, sizeof(text), "me"); /* "make her look old" */
            } else {
                snprintf(text, sizeof(text), "my");
            }
        } else if (female && !strcmp(lw, "hers") && !relative) {
            snprintf(text, sizeof(text), "mine");
        }
        if (in_list(noun, relatives))
            relative = 1;
        puts_(&b, text);
        puts_(&b, w[i].sep);
        mark_prev = mark;
    }
    contract(out);
    if (out[0])
        out[0] = (char)toupper((unsigned char)out[0]);
}

/* ---- teach-back ------------------------------------------------------------------------- */

static const char *const openers[] = {"what i would like you to do is ",
                                      "what i would like you to do ",
                                      "what you need to do is ",
                                      "the important thing is that ",
                                      "the important thing is ",
                                      "the main thing is ",
                                      "the plan is that ",
                                      "the plan is to ",
                                      "the plan is ",
                                      "it is important that ",
                                      "it is important to ",
                                      "i would like you to ",
                                      "i want you to ",
                                      "i need you to ",
                                      "i would recommend that you ",
                                      "i recommend that you ",
                                      "i would advise you to ",
                                      "i would suggest that you ",
                                      "i suggest that you ",
                                      "i suggest you ",
                                      "so ",
                                      "okay ",
                                      "ok ",
                                      "well ",
                                      "now ",
                                      "basically ",
                                      "right ",
                                      "and ",
                                      "also ",
                                      "then ",
                                      "alright ",
                                      "um ",
                                      "uh ",
                                      "first ",
                                      "firstly ",
                                      "secondly ",
                                      NULL};
static const char *const subjects[] = {"i",     "you",  "we",    "it",     "the", "my",  "your",
                                       "this",  "that", "there", "they",   "he",  "she", "if",
                                       "when",  "once", "after", "before", "a",   "an",  "these",
                                       "those", "our",  "his",   "her",    NULL};
static const char *const object_before[] = {
    "to",    "for",     "with",  "at",      "about",     "from",   "give",     "gives",  "tell",
    "show",  "send",    "help",  "ask",     "let",       "see",    "call",     "remind", "thank",
    "get",   "make",    "keep",  "bring",   "contact",   "phone",  "ring",     "book",   "refer",
    "teach", "meet",    "check", "examine", "prescribe", "offer",  "told",     "gave",   "sent",
    "by",    "of",      "on",    "after",   "before",    "like",   "than",     "into",   "around",
    "near",  "support", "visit", "text",    "email",     "update", "reassure", "advise", NULL};

#define PARAPHRASE_WORDS 24
/* The candidate's persons as the patient says them ("you" depends on its place: see below). */
static const char *const swaps[][2] = {
    {"your", "my"},    {"yours", "mine"}, {"yourself", "myself"}, {"i", "you"},
    {"me", "you"},     {"us", "you"},     {"my", "your"},         {"our", "your"},
    {"mine", "yours"}, {"ours", "yours"}, {"myself", "yourself"}, {"we", "you"}};
static const char *const conjunctions[] = {"and",  "but", "so",    "because", "or",
                                           "then", "if",  "which", "to",      NULL};

static int count_shared(const char *sentence, size_t len, const char *focus)
{
    int n = 0;
    const char *f = focus;
    while (f && *f) {
        while (*f == ' ')
            f++;
        size_t k = strcspn(f, " ");
        if (k >= 4) {
            for (size_t i = 0; i + k <= len; i++)
                if ((i == 0 || sentence[i - 1] == ' ') && strncmp(sentence + i, f, k) == 0 &&
                    (i + k == len || sentence[i + k] == ' '))
                    n++;
        }
        f += k;
    }
    return n;
}

int patient_lines_paraphrase(const char *explanation, const char *focus, char *out, size_t cap)
{
    if (!cap)
        return 0;
    out[0] = '\0';
    if (!explanation || !*explanation)
        return 0;
    /* The sentence that shares most words with the question, else the first that says "you". */
    const char *best = NULL;
    size_t best_len = 0;
    int best_score = -1;
    for (const char *s = explanation; *s;) {
        while (*s == ' ' || *s == '|')
            s++;
        size_t len = strcspn(s, "|");
        while (len && s[len - 1] == ' ')
            len--;
        if (len) {
            char tmp[512];
            snprintf(tmp, sizeof(tmp), " %.*s ", (int)len, s);
            int score = count_shared(s, len, focus) * 2 + (strstr(tmp, " you ") != NULL);
            if (score > best_score) {
                best = s;
                best_len = len;
                best_score = score;
            }
        }
        s += strcspn(s, "|");
    }
    if (!best)
        return 0;
    char src[512];
    snprintf(src, sizeof(src), "%.*s ", (int)best_len, best);
    for (int again = 1; again;) {
        again = 0;
        for (size_t i = 0; openers[i]; i++) {
            size_t k = strlen(openers[i]);
            if (strncmp(src, openers[i], k) == 0) {
                memmove(src, src + k, strlen(src + k) + 1);
                again = 1;
            }
        }
    }
    word w[48];
    size_t n = split_words(src, w, 48);
    if (n > PARAPHRASE_WORDS) {
        /* Too long to say back: end at the last "and"/"but"/"so"/"because" before the limit. */
        size_t cut = PARAPHRASE_WORDS;
        for (size_t i = PARAPHRASE_WORDS; i > 8; i--)
            if (in_list(w[i].lower, conjunctions)) {
                cut = i;
                break;
            }
        n = cut;
    }
    wbuf b = {out, 0, cap};
    char prev[48] = "";
    for (size_t i = 0; i < n; i++) {
        const char *lw = w[i].lower;
        const char *rep = lw;
        if (!strcmp(lw, "you"))
            rep = in_list(prev, object_before) ? "me" : "I";
        for (size_t k = 0; k < sizeof(swaps) / sizeof(swaps[0]); k++)
            if (!strcmp(lw, swaps[k][0]))
                rep = swaps[k][1];
        /* Agreement after the swap: "you are" -> "I am", "I am" -> "you are". */
        if (!strcmp(prev, "you") && !strcmp(lw, "are"))
            rep = "am";
        else if (!strcmp(prev, "you") && !strcmp(lw, "were"))
            rep = "was";
        else if (!strcmp(prev, "i") && !strcmp(lw, "am"))
            rep = "are";
        else if (!strcmp(prev, "i") && !strcmp(lw, "was"))
            rep = "were";
        if (i == 0 && !in_list(lw, subjects))
            puts_(&b, "I ");
        puts_(&b, rep);
        if (i + 1 < n)
            puts_(&b, strchr(w[i].sep, ',') ? ", " : " ");
        copy_str(prev, sizeof(prev), lw);
    }
    while (b.len && (b.p[b.len - 1] == ' ' || b.p[b.len - 1] == ','))
        b.p[--b.len] = '\0';
    return b.len > 0;
}

/* ---- capitals --------------------------------------------------------------------------- */

static const char *const always_capital[] = {
    "monday",   "tuesday",  "wednesday", "thursday", "friday",  "saturday",  "sunday", "january",
    "february", "march",    "april",     "may",      "june",    "july",      "august", "september",
    "october",  "november", "december",  "english",  "spanish", "christmas", "easter", "mr",
    "mrs",      "ms",       "dr",        "nhs",      "gp",      NULL};

int patient_lines_lowerable(const char *s, const char *card_text)
{
    char first[48];
    size_t n = 0;
    while (s[n] && (isalpha((unsigned char)s[n]) || s[n] == '\'') && n < sizeof(first) - 1) {
        first[n] = s[n];
        n++;
    }
    first[n] = '\0';
    if (!n || (first[0] == 'I' && (n == 1 || first[1] == '\'')))
        return 0;
    if (n >= 2 && isupper((unsigned char)first[0]) && isupper((unsigned char)first[1]))
        return 0; /* an acronym */
    if (in_list(first, always_capital))
        return 0;
    /* A word the card writes with a capital in mid-sentence is a name. */
    for (const char *p = card_text; p && (p = strstr(p, first)); p += n) {
        if (p > card_text && !isalpha((unsigned char)p[n]) && p[-1] == ' ' && p - 2 >= card_text &&
            p[-2] != '.' && p[-2] != '?' && p[-2] != '!' && p[-2] != '"')
            return 0;
    }
    return 1;
}

/* Conversational moves of the candidate (see patient_moves.h). Patterns are word sequences over
 * the clause's normalised words (contractions expanded: "I'm" is "i am"):
 *   ^ first: may start only after leading fillers ("okay so …");  $ last: ends the clause (or
 *   only fillers follow);  * any one word;  @role a job title;  (a|b c) alternatives, (…)?
 * optional.
 */
#include "services/ai/patient_moves.h"

#include <string.h>

#define EXPLANATION_MIN_WORDS 6
#define FRAGMENT_MAX_WORDS 4

static const char *const fillers[] = {
    "okay",    "ok",    "so",     "and", "well",      "right",     "alright",  "um",     "uh",
    "er",      "erm",   "now",    "oh",  "great",     "good",      "lovely",   "fine",   "then",
    "just",    "also",  "but",    "yes", "yeah",      "sure",      "mm",       "hmm",    "ah",
    "perfect", "thank", "thanks", "you", "brilliant", "excellent", "alrighty", "anyway", "sorry",
    "hello",   "hi",    "hiya",   "hey", "morning",   "afternoon", "evening",  NULL};
/* "thank you" and "sorry" lead into questions often enough ("thank you, and how long…"), but a
 * lone "thank you" is its own move, found before fillers are skipped. */

static const char *const trailing[] = {
    "then", "now",  "today",   "please",    "ok",      "okay",  "too",   "there", "again",
    "for",  "me",   "at",      "all",       "so",      "far",   "mr",    "mrs",   "ms",
    "yet",  "this", "morning", "afternoon", "evening", "still", "doing", NULL};

static const char *const roles[] = {"doctor",
                                    "doctors",
                                    "nurse",
                                    "nurses",
                                    "pharmacist",
                                    "pharmacists",
                                    "physio",
                                    "physiotherapist",
                                    "dentist",
                                    "dietitian",
                                    "dietician",
                                    "optometrist",
                                    "radiographer",
                                    "therapist",
                                    "occupational",
                                    "speech",
                                    "pathologist",
                                    "vet",
                                    "veterinarian",
                                    "veterinary",
                                    "podiatrist",
                                    "student",
                                    "registrar",
                                    "consultant",
                                    "surgeon",
                                    "hygienist",
                                    "practitioner",
                                    "midwife",
                                    "clinician",
                                    "specialist",
                                    "gp",
                                    "resident",
                                    "intern",
                                    "junior",
                                    "senior",
                                    "trainee",
                                    "team",
                                    "ward",
                                    "staff",
                                    "duty",
                                    "charge",
                                    "matron",
                                    "orthoptist",
                                    "audiologist",
                                    "paramedic",
                                    "dental",
                                    "medical",
                                    "clinical",
                                    "emergency",
                                    "community",
                                    "practice",
                                    "district",
                                    "specialist",
                                    "head",
                                    "lead",
                                    "sister",
                                    "therapists",
                                    "one",
                                    NULL};

static const char *const ack_words[] = {
    "okay",    "ok",   "right",     "alright", "all",       "i",       "see",       "good",
    "great",   "fine", "sure",      "mm",      "mhm",       "hmm",     "yes",       "yeah",
    "yep",     "no",   "cool",      "lovely",  "brilliant", "perfect", "excellent", "understood",
    "got",     "it",   "oh",        "ah",      "uh",        "um",      "er",        "erm",
    "that",    "is",   "wonderful", "nice",    "super",     "sounds",  "indeed",    "absolutely",
    "exactly", "true", "noted",     "gotcha",  NULL};

static const char *const wh_words[] = {"what", "when",  "where", "why", "how",
                                       "who",  "which", "whose", NULL};
static const char *const aux_words[] = {
    "do",  "does",  "did",   "have", "has",   "had",    "are", "is",    "was", "were",
    "can", "could", "would", "will", "shall", "should", "may", "might", NULL};
static const char *const after_aux[] = {
    "you",     "your",     "he",     "she",     "it",    "they",       "there", "we",
    "i",       "the",      "this",   "that",    "these", "those",      "any",   "anyone",
    "anybody", "anything", "things", "someone", "his",   "her",        "my",    "their",
    "our",     "mum",      "dad",    "all",     "both",  "everything", "not",   NULL};

/* One pattern a line, however long: a pattern cut in two would read as two. */
// clang-format off
static const char *const greeting_pats[] = {
    "^hello",
    "^hi",
    "^hiya",
    "^hey",
    "^good morning",
    "^good afternoon",
    "^good evening",
    "^morning $",
    "^afternoon $",
    "nice to meet you",
    "pleased to meet you",
    "lovely to meet you",
    "good to meet you",
    "nice to see you",
    "^welcome",
    NULL};

static const char *const howareyou_pats[] = {
    "^how are you $",
    "^how are you doing $",
    "^how are you keeping $",
    "^how is it going $",
    "^how are things $",
    "^how have you been $",
    "^how do you do $",
    "^are you (ok|okay|alright|all right|well) $",
    "^how are we $",
    "^you (ok|okay|alright) $",
    NULL};

static const char *const intro_pats[] = {
    "^my name is",
    "^i am dr",
    "^i am doctor",
    "^i am nurse",
    "^this is dr",
    "^i am one of the",
    "^i am * one of the",
    "^i am * and i am",
    "^i am (the|your|a|an) @role",
    "^i am * (the|your|a|an) @role",
    "^i am * * (the|your|a|an) @role",
    "^i will be (your|the) @role",
    "^i work (here|in|on|at|as|with)",
    "^my role is",
    "^i am * from the",
    "^i am * i am (the|your|a|an) @role",
    NULL};

static const char *const purpose_pats[] = {
    "^i am here (today)? to",
    "i have been asked to",
    "^the reason (i|we|for)",
    "i would like to (talk|discuss|go through|explain|chat|have a chat|run through|go over|review|check on|see how|start|begin)",
    "i would like to ask you (a few|some|a couple of|a number of) (more)? questions",
    "i (want|wanted|need|needed|have) to (talk|discuss|go through|explain|chat|go over)",
    "we are going to",
    "we will (talk|discuss|go through|look at|go over)",
    "i am going to (ask you|explain|talk|go through|have a look|check|examine|give you|tell you|run through|go over|start)",
    "^today (i|we)",
    "i will be looking after you",
    "i have come to",
    "^let us (talk|discuss|go through|look at|start|begin|have a chat)",
    "i (just)? (want|wanted|need|needed) to ask you (a few|some|a couple of) (more)? questions",
    "^first of all",
    "^to start (with|off)",
    "^first i would like",
    "i have (got|had|seen|read) your (notes|results|referral|letter|scan|tests)",
    "i have been (looking at|reading|through) your",
    "^i am going to be",
    NULL};

static const char *const permission_pats[] = {
    "is it (ok|okay|all right|alright|fine) (if|for me to|to)",
    "would it be (ok|okay|all right|alright|fine) (if|for me to|to)",
    "do you mind if",
    "would you mind if",
    "would you mind me",
    "(can|could|may) i ask you (a few|some|a couple of|a number of) (more)? questions",
    "(can|could|may) i ask (a few|some|a couple of) (more)? questions",
    "(can|could|may) i (just)? (have a look|take a look|examine|check your|look at|listen to|take your|feel your|see your)",
    "are you happy (for me|to)",
    "would you be happy (for me|to)",
    "is that (ok|okay|alright|all right|fine) with you",
    "(can|could|may|shall) i call you",
    "do i have your permission",
    "(shall|should|can) we (start|begin|get started|make a start)",
    "is now a good time",
    "(have|do) you (got|have) a (few|couple of) minutes",
    NULL};

static const char *const empathy_pats[] = {
    "that must (be|have been)",
    "it must (be|have been)",
    "this must (be|have been)",
    "must (be|have been) (hard|difficult|tough|awful|frightening|scary|worrying|stressful|upsetting|a worry|a lot|exhausting|frustrating|horrible|terrible|painful|a shock|hard work)",
    "^i (can|do|completely|totally|really|fully|can completely|can totally|can really)? understand",
    "i (can|do|completely|totally|really|fully|can completely|can totally|can really)? understand (how|that|why|your|you|it|this|the)",
    "i can (see|imagine|tell) (that|how|why|you|this|it|what)",
    "i can only imagine",
    "i am (so|very|really|truly|terribly)? sorry (to|about|that|for|you|this|it)",
    "^i am (so|very|really)? sorry $",
    "sorry to hear",
    "that sounds",
    "this sounds",
    "it sounds (like|as if|really|very|quite|hard|difficult|awful|stressful|frightening|worrying)",
    "i (really|do|truly)? appreciate (that|how|this|it|you|your)",
    "(it is|that is|this is) (completely|perfectly|very|quite|totally)? understandable",
    "understandably",
    "it is (completely|perfectly|quite|very|totally|only)? (normal|natural|common) to (feel|be|worry)",
    "i hear (you|that|what you)",
    "you must (be|feel|have been)",
    "(that is|it is|this is|that has been|it has been|this has been) (really|very|so|quite)? (hard|difficult|tough|a lot|frightening|scary|upsetting|worrying|stressful|awful|a worry)",
    "i know (it|this|that) (is|can be|must be|has been)",
    "i get that",
    "i would (feel|be) the same",
    "anyone would (feel|be)",
    "of course you are",
    "you are not alone",
    "that is a lot to",
    "how awful",
    "oh dear",
    "poor you",
    "i can see you are",
    "you (seem|look|sound) (a bit|a little|very|quite|really)? (worried|upset|anxious|concerned|frustrated|annoyed|stressed|nervous|scared|angry|tired|down|frightened)",
    "i can hear (that|you|how)",
    "that is (a )?(shame|pity)",
    "what a (shame|pity|worry)",
    "i am (here|here for you) to (help|support)",
    "(it is|that is) (not)? (your fault)",
    "you (have been|are) doing (really|very|so)? (well|a great job|a good job|your best)",
    "i see (why|how|that) (you|this|it)",
    "that makes sense",
    "i know how (hard|difficult)",
    NULL};

static const char *const check_pats[] = {
    "(does|did) (that|this|it|everything|all that|all of that) make sense",
    "do you (understand|follow)",
    "did you (understand|follow|get)",
    "(is|was) (that|this|it|everything|all that) clear",
    "any questions",
    "(do|have) you (have|got) any (questions|queries)",
    "anything (else)? (you would like|you want|you wanted|you need|you would want|you would) to (ask|know)",
    "is there anything (else)? (you|that you) (would like|want|wanted|need|would)",
    "are you (happy|ok|okay|comfortable|alright|all right|clear) (with|about|on) (that|this|the plan|everything|what|it|all)",
    "how does (that|this|it) sound",
    "how do you feel about that plan",
    "does (that|this) sound (ok|okay|alright|all right|good|reasonable|like a plan|fair)",
    "^(is that|is this) (ok|okay|alright|all right|fine) $",
    "are you with me",
    "have i explained",
    "am i making sense",
    "what questions do you have",
    "anything (else)? i can (help|do|explain|clarify)",
    "is there anything (else)? i can",
    "does that answer your question",
    "(can|could) you (understand|follow) (that|me|what)",
    "is (that|everything) understood",
    "have you understood",
    "are you clear",
    "do you know what (i mean|that means|to do)",
    "anything (that is|you are) (not)? (unclear|not clear)",
    "anything (else)? (unclear|you are unsure|you are not sure)",
    NULL};

static const char *const summary_pats[] = {
    "is that (right|correct|true|accurate) $",
    "am i right $",
    "(have|did) i (got|get) (that|this|it|everything|all that) (right|correct)",
    "have i (understood|got it)",
    "^(so)? to (summarise|summarize|sum up|recap)",
    "^(so)? (let me|can i|i will just|i would like to|just to) (summarise|summarize|sum up|recap)",
    "^just to (summarise|summarize|recap|sum up)",
    "so far you have (told|said|mentioned)",
    "(so)? what you are saying is",
    "if i have understood",
    "if i understand (you)? (correctly|right)",
    "let me (just)? (check|make sure) (that)? i have (understood|got)",
    "from what you have (told|said)",
    "^so you are saying",
    "^so you said",
    "^so (you|your) .* (right|correct) $",
    "^you (mentioned|said|told me) that",
    NULL};

static const char *const teachback_pats[] = {
    "in your own words",
    "(explain|say|tell|repeat|go over) (it|that|this|them|those|everything)? back",
    "(repeat|go over) (it|that|this|what i said|what i have said|what we discussed|the plan)",
    "(tell|show|explain to) me how you (will|are going to|would|plan to)",
    "(tell|explain to) me what you (will|are going to|would|plan to) do",
    "(tell|explain to) me when you (will|are going to)",
    "(just)? to (check|make sure|be sure) (that)? i have (explained|been clear|made)",
    "(so)? (that)? i (know|can check|can be sure|can make sure) i have (explained|been clear)",
    "what are you going to do (when|if|at|tonight|tomorrow|from|after|before|next)",
    "what will you do (when|if|at|tonight|tomorrow|from|after|before|next)",
    "how (are you going to|will you) (take|use|do|manage|give|apply|put)",
    "when (are you going to|will you) (take|use|do|give|apply)",
    NULL};

static const char *const concerns_pats[] = {
    "what (are you|is it that you are|were you) (most)? (worried|concerned|anxious|scared|frightened|afraid|nervous) (about|of)",
    "what (worries|concerns|frightens|scares|bothers|upsets) you",
    "(any|your) (worries|concerns|fears)",
    "is (anything|something|there anything) (worrying|bothering|troubling|concerning|upsetting) you",
    "what is (worrying|bothering|troubling|concerning|upsetting) you",
    "on your mind",
    "how (do|are) you (feel|feeling) about (that|this|it|the plan|what i|everything|all)",
    "what do you think about (that|this|it|the plan|what i)",
    "what (would you like|are you hoping|were you hoping|do you expect|are you expecting|do you want) (to get|from|out of|to happen)",
    "what matters (most)? to you",
    "what are your (thoughts|feelings)",
    "anything else (worrying|bothering) you",
    "how does that make you feel",
    "what (else)? (is|are) (your)? (main)? (concern|concerns|worry|worries)",
    NULL};

static const char *const identity_pats[] = {
    "your (full)? name",
    "date of birth",
    "how old are you",
    "your age",
    "what (should|shall|can|do) i call you",
    "what would you like (me)? to call you",
    "what do you (like|prefer) to be called",
    "who am i (speaking|talking) (to|with)",
    "^are you (mr|mrs|ms|miss)",
    NULL};

static const char *const farewell_pats[] = {
    "goodbye",
    "^bye",
    "bye bye",
    "take care",
    "see you (later|soon|next|in|again|then|tomorrow|on)",
    "thank you (for|very much for|so much for) (coming|your time|seeing me|talking|listening|coming in|your patience)",
    "thanks (for|very much for|so much for) (coming|your time|coming in)",
    "all the best",
    "have a (good|nice|great|lovely|safe) (day|evening|weekend|afternoon|trip|journey)",
    "get well soon",
    "look after yourself $",
    "^it was (nice|good|lovely) (to|talking|meeting|speaking)",
    "^(nice|lovely) talking to you",
    "^good luck",
    NULL};

static const char *const thanks_pats[] = {
    "^thank you $",
    "^thanks $",
    "^thank you (very|so) much $",
    "^thanks (very|so) much $",
    "^thank you for (telling|sharing|that|letting|explaining|answering|being|your honesty)",
    "^thanks for (telling|sharing|that|letting)",
    "^cheers $",
    NULL};

static const char *const request_pats[] = {
    "tell me",
    "let me know",
    "describe",
    "talk me through",
    "walk me through",
    "i would like to know",
    "i (want|wanted|need) to know",
    "i was wondering",
    "i wonder",
    "show me",
    "ask (you)? about",
    "ask you (a bit|a little|something|some things|a few things) about",
    "^what about",
    "^how about",
    "^and what about",
    "i (would like|want|wanted|need|needed) to (ask|check) (you)? (if|whether|when|what|how|why|where|who|about|which)",
    "i am (curious|interested) (about|to know|in)",
    "i would like to hear",
    "(can|could|would) you (tell|describe|explain|show|say)",
    "explain to me",
    "can i ask",
    "could i ask",
    "may i ask",
    NULL};

static const char *const not_asking_pats[] = {
    "^do not",
    "^does not",
    "^did not",
    NULL};
// clang-format on

typedef struct seg {
    const char *p, *e;
} seg;

typedef struct cursor {
    const pt_text *t;
    size_t end;     /* clause end (word index) */
    int anchor_end; /* the pattern ends with $ */
} cursor;

static int only_trailing(const cursor *c, size_t i)
{
    for (; i < c->end; i++)
        if (!patient_text_in(c->t->word[i], trailing))
            return 0;
    return 1;
}

static int word_is(const char *w, const char *tok, size_t n)
{
    return strlen(w) == n && memcmp(w, tok, n) == 0;
}

/* Matches the segments on stack (innermost last) from word i; backtracks over alternatives. */
static int match(const cursor *c, seg *stack, int depth, size_t i)
{
    seg s = stack[depth - 1];
    while (s.p < s.e && *s.p == ' ')
        s.p++;
    if (s.p >= s.e) {
        if (depth > 1)
            return match(c, stack, depth - 1, i);
        return !c->anchor_end || only_trailing(c, i);
    }
    if (*s.p == '(') {
        const char *close = memchr(s.p, ')', (size_t)(s.e - s.p));
        if (!close || depth >= 6)
            return 0;
        int optional = close + 1 < s.e && close[1] == '?';
        seg rest = {close + 1 + optional, s.e};
        seg next[6];
        memcpy(next, stack, (size_t)depth * sizeof(seg));
        next[depth - 1] = rest;
        const char *a = s.p + 1;
        while (a <= close) {
            const char *bar = a;
            while (bar < close && *bar != '|')
                bar++;
            next[depth] = (seg){a, bar};
            if (match(c, next, depth + 1, i))
                return 1;
            a = bar + 1;
        }
        return optional && match(c, next, depth, i);
    }
    const char *tok = s.p;
    while (s.p < s.e && *s.p != ' ')
        s.p++;
    size_t n = (size_t)(s.p - tok);
    if (i >= c->end)
        return 0;
    const char *w = c->t->word[i];
    int ok = (n == 1 && tok[0] == '*') ||
             (n == 5 && memcmp(tok, "@role", 5) == 0 && patient_text_in(w, roles)) ||
             word_is(w, tok, n);
    if (!ok)
        return 0;
    stack[depth - 1] = s;
    int r = match(c, stack, depth, i + 1);
    stack[depth - 1].p = tok; /* restore for the caller's next alternative */
    return r;
}

size_t patient_moves_skip_fillers(const pt_text *t, const pt_clause *cl)
{
    size_t i = cl->w0;
    while (i < cl->w1 && patient_text_in(t->word[i], fillers))
        i++;
    return i;
}

static int pattern_in(const pt_text *t, const pt_clause *cl, const char *pat)
{
    size_t len = strlen(pat);
    int anchored = pat[0] == '^';
    const char *p = pat + anchored;
    cursor c = {t, cl->w1, 0};
    if (len >= 2 && pat[len - 1] == '$') {
        c.anchor_end = 1;
        len--;
    }
    seg s = {p, pat + len};
    size_t last = anchored ? patient_moves_skip_fillers(t, cl) : cl->w1;
    if (last >= cl->w1)
        last = cl->w1 ? cl->w1 - 1 : 0;
    for (size_t i = cl->w0; i <= last && i < cl->w1; i++) {
        seg stack[6] = {s};
        if (match(&c, stack, 1, i))
            return 1;
    }
    return 0;
}

static int any_pattern(const pt_text *t, const pt_clause *cl, const char *const *pats)
{
    for (; *pats; pats++)
        if (pattern_in(t, cl, *pats))
            return 1;
    return 0;
}

static int all_in(const pt_text *t, const pt_clause *cl, const char *const *list)
{
    for (size_t i = cl->w0; i < cl->w1; i++)
        if (!patient_text_in(t->word[i], list))
            return 0;
    return cl->w1 > cl->w0;
}

unsigned patient_moves_clause(const pt_text *t, const pt_clause *cl)
{
    unsigned m = 0;
    if (cl->w1 <= cl->w0)
        return 0;
    if (any_pattern(t, cl, greeting_pats))
        m |= MV_GREETING;
    if (any_pattern(t, cl, howareyou_pats))
        m |= MV_HOWAREYOU;
    if (any_pattern(t, cl, intro_pats))
        m |= MV_INTRO;
    if (any_pattern(t, cl, purpose_pats))
        m |= MV_PURPOSE;
    if (any_pattern(t, cl, permission_pats))
        m |= MV_PERMISSION;
    if (any_pattern(t, cl, empathy_pats))
        m |= MV_EMPATHY;
    if (any_pattern(t, cl, check_pats))
        m |= MV_CHECK;
    if (any_pattern(t, cl, summary_pats))
        m |= MV_SUMMARY;
    if (any_pattern(t, cl, teachback_pats))
        m |= MV_TEACHBACK;
    if (any_pattern(t, cl, concerns_pats))
        m |= MV_CONCERNS;
    if (any_pattern(t, cl, identity_pats))
        m |= MV_IDENTITY;
    if (any_pattern(t, cl, farewell_pats))
        m |= MV_FAREWELL;
    if (any_pattern(t, cl, thanks_pats))
        m |= MV_THANKS;
    if (cl->w1 - cl->w0 <= 4 && all_in(t, cl, ack_words))
        m |= MV_ACK;

    /* Asking: a question mark, a question word or auxiliary first, a request ("tell me…"), or
     * a short fragment naming a topic ("and alcohol?"). Purpose statements ask nothing yet. */
    size_t f = patient_moves_skip_fillers(t, cl);
    size_t words = cl->w1 - f;
    int asking = cl->qmark;
    if (f < cl->w1) {
        const char *w = t->word[f];
        const char *next = f + 1 < cl->w1 ? t->word[f + 1] : "";
        asking |= patient_text_in(w, wh_words) ||
                  (patient_text_in(w, aux_words) && patient_text_in(next, after_aux)) ||
                  !strcmp(w, "any") || !strcmp(w, "anything") || !strcmp(w, "anyone") ||
                  !strcmp(w, "anybody") || !strcmp(w, "ever");
    }
    if (!asking && any_pattern(t, cl, request_pats))
        asking = 1;
    unsigned social = MV_GREETING | MV_HOWAREYOU | MV_INTRO | MV_THANKS | MV_ACK | MV_FAREWELL |
                      MV_EMPATHY | MV_PURPOSE;
    if (!asking && words > 0 && words <= FRAGMENT_MAX_WORDS && !(m & social))
        asking = 1;
    if (asking && !cl->qmark && any_pattern(t, cl, not_asking_pats))
        asking = 0;
    if ((m & MV_PURPOSE) && !any_pattern(t, cl, request_pats))
        asking = 0;
    unsigned other =
        social | MV_PERMISSION | MV_CHECK | MV_SUMMARY | MV_TEACHBACK | MV_CONCERNS | MV_IDENTITY;
    if (asking)
        m |= MV_ASKING;
    else if (words >= EXPLANATION_MIN_WORDS && !(m & other))
        m |= MV_EXPLANATION;
    return m;
}

const char *patient_move_name(unsigned move)
{
    static const char *const names[MV_COUNT] = {
        "greeting", "how_are_you", "introduction", "purpose",  "permission", "empathy",
        "check",    "summary",     "teach_back",   "concerns", "identity",   "farewell",
        "thanks",   "ack",         "explanation",  "question"};
    for (unsigned i = 0; i < MV_COUNT; i++)
        if (move == 1u << i)
            return names[i];
    return "?";
}

/* Text normalisation for the recogniser's language models: card text and corpus lines become
 * the words pocketsphinx writes (lower case, numbers and units spelt out, abbreviations the
 * dictionary lacks spelt as letters). */
#include "speech/lm_text.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int normalise_token(const char *tok, size_t len, int *after_number, lm_known_fn known,
                           void *ud, buf *out);
static int append_number(const char *digits, size_t len, int ordinal, buf *out);

/* Writes one ASCII byte for a UTF-8 sequence at s (advancing *i): curly quotes become
 * straight, dashes and ellipses become a space or a full stop, accented Latin letters lose the
 * accent, anything else becomes a space. */
static char ascii_of(const unsigned char *s, size_t *i)
{
    unsigned char c = s[*i];
    if (c < 0x80) {
        (*i)++;
        return (char)c;
    }
    if (c == 0xE2 && s[*i + 1] == 0x80 && s[*i + 2]) {
        unsigned char d = s[*i + 2];
        *i += 3;
        if (d == 0x98 || d == 0x99)
            return '\'';
        if (d == 0xA6)
            return '.';
        return ' ';
    }
    if (c == 0xC3 && s[*i + 1]) {
        static const char latin[] =
            "AAAAAAACEEEEIIIIDNOOOOOxOUUUUYTsaaaaaaaceeeeiiiidnooooo/ouuuuyty";
        unsigned char d = s[*i + 1];
        *i += 2;
        if (d >= 0x80 && d <= 0xBF)
            return latin[d - 0x80];
        return ' ';
    }
    /* Skip the continuation bytes of any other sequence. */
    (*i)++;
    while (s[*i] && (s[*i] & 0xC0) == 0x80)
        (*i)++;
    return ' ';
}

/* A '.' or ':' between two digits ("1.5", "10:30"), or a thousands comma ("2,000"), stays
 * inside the token. */
static int digit_separator(const char *start, const char *p)
{
    if (p == start || !isdigit((unsigned char)p[-1]) || !isdigit((unsigned char)p[1]))
        return 0;
    if (*p == '.' || *p == ':')
        return 1;
    return *p == ',' && isdigit((unsigned char)p[2]) && isdigit((unsigned char)p[3]) &&
           !isdigit((unsigned char)p[4]);
}

static int ends_sentence(char ch)
{
    return ch == '.' || ch == '?' || ch == '!' || ch == ';' || ch == ':' || ch == '(' ||
           ch == ')' || ch == '[' || ch == ']' || ch == '{' || ch == '}' || ch == '"' ||
           ch == '\n' || ch == '\r';
}

static int is_title(const char *tok, size_t len)
{
    static const char *const titles[] = {"mr", "mrs", "ms", "dr", "st", "vs", "approx", "etc"};
    for (size_t i = 0; i < ARRAY_LEN(titles); i++)
        if (strlen(titles[i]) == len && strncasecmp(tok, titles[i], len) == 0)
            return 1;
    return 0;
}

/* Ends the current sentence in out: a newline unless the sentence is empty. */
static int end_sentence(buf *out)
{
    if (out->len == 0 || out->ptr[out->len - 1] == '\n')
        return 0;
    if (out->ptr[out->len - 1] == ' ')
        out->len--;
    return buf_puts(out, "\n");
}

int lm_normalise(const char *text, lm_known_fn known, void *ud, buf *out)
{
    buf a;
    int rc = 0;
    buf_init(&a, (size_t)1 << 26);
    if (!text)
        return 0;
    /* Pass 1: ASCII, with "e.g." and "i.e." removed (their dots are not sentence ends). */
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; s[i] && rc == 0;) {
        if ((s[i] == 'e' || s[i] == 'E' || s[i] == 'i' || s[i] == 'I') && s[i + 1] == '.' &&
            s[i + 2] && strchr("gGeE", s[i + 2]) && s[i + 3] == '.' &&
            (i == 0 || !isalnum(s[i - 1]))) {
            rc = buf_puts(&a, " ");
            i += 4;
            continue;
        }
        char ch = ascii_of(s, &i);
        rc = buf_append(&a, &ch, 1);
    }
    /* Pass 2: tokens. A token is a run of letters, digits and apostrophes; a '.' or ':' between
     * two digits stays inside it ("1.5", "10:30"). */
    const char *p = a.ptr ? a.ptr : "";
    int after_number = 0;
    size_t start_len = out->len;
    while (*p && rc == 0) {
        if (isalnum((unsigned char)*p) || *p == '\'') {
            const char *t = p;
            while (isalnum((unsigned char)*p) || *p == '\'' || digit_separator(t, p))
                p++;
            size_t len = (size_t)(p - t);
            rc = normalise_token(t, len, &after_number, known, ud, out);
            if (rc == 0 && *p == '.' && is_title(t, len))
                p++; /* "Mr." does not end the sentence */
            continue;
        }
        if (ends_sentence(*p))
            rc = end_sentence(out);
        else if (*p == '&')
            rc = buf_puts(out, "and ");
        else if (*p == '%')
            rc = buf_puts(out, "percent ");
        else if (*p == '+')
            rc = buf_puts(out, "plus ");
        if (*p != ',' && *p != ' ')
            after_number = 0;
        p++;
    }
    if (rc == 0 && out->len > start_len)
        rc = end_sentence(out);
    buf_free(&a);
    return rc;
}

static int append_word(buf *out, const char *w, size_t len)
{
    if (len == 0 || len >= LM_WORD_MAX)
        return 0;
    int rc = buf_append(out, w, len);
    return rc ? rc : buf_puts(out, " ");
}

static int append_lower(buf *out, const char *w, size_t len)
{
    char tmp[LM_WORD_MAX];
    if (len == 0 || len >= LM_WORD_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        tmp[i] = (char)tolower((unsigned char)w[i]);
    return append_word(out, tmp, len);
}

static const char *unit_word(const char *u, size_t len)
{
    static const char *const units[][2] = {
        {"mg", "milligrams"},
        {"mcg", "micrograms"},
        {"ml", "millilitres"},
        {"kg", "kilos"},
        {"g", "grams"},
        {"cm", "centimetres"},
        {"mm", "millimetres"},
        {"km", "kilometres"},
        {"hrs", "hours"},
        {"hr", "hours"},
        {"mins", "minutes"},
        {"min", "minutes"},
        {"bpm", "beats per minute"},
        {"x", "times"},
        {"mmol", "millimoles"},
        {"l", "litres"},
        {"am", "a m"},
        {"pm", "p m"},
        {"yrs", "years"},
        {"wks", "weeks"},
        {"kcal", "calories"},
    };
    for (size_t i = 0; i < ARRAY_LEN(units); i++)
        if (strlen(units[i][0]) == len && strncasecmp(u, units[i][0], len) == 0)
            return units[i][1];
    return NULL;
}

static int is_ordinal_suffix(const char *s, size_t len)
{
    return len == 2 && (strncasecmp(s, "st", 2) == 0 || strncasecmp(s, "nd", 2) == 0 ||
                        strncasecmp(s, "rd", 2) == 0 || strncasecmp(s, "th", 2) == 0);
}

/* Letters of an abbreviation one by one ("ECG" -> "e c g"). */
static int append_letters(const char *t, size_t len, buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        char ch = (char)tolower((unsigned char)t[i]);
        rc = append_word(out, &ch, 1);
    }
    return rc;
}

static int is_abbreviation(const char *t, size_t len, lm_known_fn known, void *ud)
{
    char low[LM_WORD_MAX];
    if (!known || len < 2 || len > 6)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!isupper((unsigned char)t[i]))
            return 0;
        low[i] = (char)tolower((unsigned char)t[i]);
    }
    low[len] = '\0';
    return !known(ud, low);
}

static int normalise_token(const char *tok, size_t len, int *after_number, lm_known_fn known,
                           void *ud, buf *out)
{
    int rc = 0;
    /* Apostrophes only inside a word ('quoted' words lose theirs). */
    while (len && tok[0] == '\'') {
        tok++;
        len--;
    }
    while (len && tok[len - 1] == '\'')
        len--;
    /* "GPs", "ECGs": an abbreviation in the plural reads as the abbreviation. */
    if (len >= 3 && tok[len - 1] == 's' && is_abbreviation(tok, len - 1, known, ud))
        len--;
    size_t i = 0;
    while (i < len && rc == 0) {
        size_t j = i;
        if (isdigit((unsigned char)tok[i])) {
            char digits[64] = {0};
            size_t nd = 0;
            while (j < len && (isdigit((unsigned char)tok[j]) || tok[j] == '.' || tok[j] == ':' ||
                               tok[j] == ',')) {
                if (tok[j] != ',' && nd < sizeof(digits))
                    digits[nd++] = tok[j];
                j++;
            }
            int ordinal = (len - j == 2 && is_ordinal_suffix(tok + j, 2));
            rc = append_number(digits, nd, ordinal, out);
            *after_number = 1;
            if (ordinal)
                return rc;
        } else {
            while (j < len && !isdigit((unsigned char)tok[j]))
                j++;
            const char *unit = *after_number ? unit_word(tok + i, j - i) : NULL;
            if (unit)
                rc = buf_puts(out, unit) ? BUF_NOMEM : buf_puts(out, " ");
            else if (is_abbreviation(tok + i, j - i, known, ud))
                rc = append_letters(tok + i, j - i, out);
            else
                rc = append_lower(out, tok + i, j - i);
            *after_number = 0;
        }
        i = j;
    }
    return rc;
}

static const char *const small_numbers[] = {
    "zero",     "one",     "two",     "three",     "four",     "five",    "six",
    "seven",    "eight",   "nine",    "ten",       "eleven",   "twelve",  "thirteen",
    "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
static const char *const tens_words[] = {"",      "",      "twenty",  "thirty", "forty",
                                         "fifty", "sixty", "seventy", "eighty", "ninety"};

/* Words for n < 1000 (British: "one hundred and five"). */
static int append_below_thousand(unsigned n, buf *out)
{
    int rc = 0;
    if (n >= 1000)
        return BUF_TOO_BIG;
    if (n >= 100) {
        rc = buf_printf(out, "%s hundred ", small_numbers[n / 100]);
        n %= 100;
        if (rc == 0 && n)
            rc = buf_puts(out, "and ");
        if (n == 0)
            return rc;
    }
    if (rc)
        return rc;
    if (n < 20)
        return buf_printf(out, "%s ", small_numbers[n]);
    rc = buf_printf(out, "%s ", tens_words[n / 10]);
    if (rc == 0 && n % 10)
        rc = buf_printf(out, "%s ", small_numbers[n % 10]);
    return rc;
}

static int append_integer(unsigned long n, buf *out)
{
    int rc = 0;
    if (n >= 1000) {
        rc = append_below_thousand((unsigned)(n / 1000), out);
        if (rc == 0)
            rc = buf_puts(out, "thousand ");
        n %= 1000;
        if (n == 0 || rc)
            return rc;
        if (n < 100)
            rc = buf_puts(out, "and ");
        if (rc)
            return rc;
    }
    return append_below_thousand((unsigned)n, out);
}

/* Rewrites the last word of out as an ordinal ("three " -> "third "). */
static int make_ordinal(buf *out)
{
    static const char *const irregular[][2] = {
        {"one", "first"},    {"two", "second"}, {"three", "third"},   {"five", "fifth"},
        {"eight", "eighth"}, {"nine", "ninth"}, {"twelve", "twelfth"}};
    if (out->len < 2)
        return 0;
    out->len--; /* the trailing space */
    size_t start = out->len;
    while (start > 0 && out->ptr[start - 1] != ' ' && out->ptr[start - 1] != '\n')
        start--;
    char last[LM_WORD_MAX] = {0};
    size_t wl = out->len - start;
    if (wl >= sizeof(last))
        return buf_puts(out, " ");
    memcpy(last, out->ptr + start, wl);
    out->len = start;
    for (size_t i = 0; i < ARRAY_LEN(irregular); i++)
        if (strcmp(last, irregular[i][0]) == 0)
            return buf_printf(out, "%s ", irregular[i][1]);
    if (wl > 1 && last[wl - 1] == 'y')
        return buf_printf(out, "%.*sieth ", (int)(wl - 1), last);
    return buf_printf(out, "%sth ", last);
}

static int append_digits(const char *d, size_t len, buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++)
        if (isdigit((unsigned char)d[i]))
            rc = buf_printf(out, "%s ", small_numbers[d[i] - '0']);
    return rc;
}

static int append_number(const char *digits, size_t len, int ordinal, buf *out)
{
    const char *sep = memchr(digits, '.', len);
    const char *colon = memchr(digits, ':', len);
    size_t ilen = sep ? (size_t)(sep - digits) : colon ? (size_t)(colon - digits) : len;
    int rc;
    if (ilen == 0 || ilen > 6)
        return append_digits(digits, len, out); /* phone numbers and the like */
    unsigned long n = 0;
    for (size_t i = 0; i < ilen; i++)
        n = n * 10 + (unsigned long)(digits[i] - '0');
    rc = append_integer(n, out);
    if (rc)
        return rc;
    if (sep) {
        rc = buf_puts(out, "point ");
        return rc ? rc : append_digits(sep + 1, len - ilen - 1, out);
    }
    if (colon) {
        const char *m = colon + 1;
        size_t mlen = len - ilen - 1;
        unsigned long mins = 0;
        for (size_t i = 0; i < mlen && isdigit((unsigned char)m[i]); i++)
            mins = mins * 10 + (unsigned long)(m[i] - '0');
        if (mins == 0)
            return buf_puts(out, "o'clock ");
        if (mins < 10) {
            rc = buf_puts(out, "oh ");
            if (rc)
                return rc;
        }
        return mins < 100 ? append_below_thousand((unsigned)mins, out) : 0;
    }
    return ordinal ? make_ordinal(out) : 0;
}

/* The scripted patient's own words: stock phrasings by persona mood (greetings, acknowledgements,
 * "Like I said, …"), the card's third-person concerns turned into first-person lines, and the
 * teach-back paraphrase of the candidate's last explanation. Nothing here gives advice: every
 * line is an acknowledgement, a question, or the card's or the candidate's own content.
 * Internal to the patient engine. */
#ifndef PRAXIS_SERVICES_AI_PATIENT_LINES_H
#define PRAXIS_SERVICES_AI_PATIENT_LINES_H

#include <stddef.h>
#include <stdint.h>

enum patient_mood { MOOD_NEUTRAL, MOOD_ANXIOUS, MOOD_IRRITATED, MOOD_WARM, MOOD_COUNT };

enum patient_bank {
    BANK_HELLO,          /* "Hello." */
    BANK_HELLO_NAME,     /* "Hello, {name}." */
    BANK_HOWAREYOU,      /* "Not too bad, thanks." */
    BANK_PURPOSE,        /* "Okay." after "I'd like to ask you a few questions" */
    BANK_PERMISSION,     /* "Yes, of course." */
    BANK_EMPATHY,        /* "Thank you." */
    BANK_CONCERN_LEAD,   /* "To be honest, " before a concern */
    BANK_EXPLAIN_ACK,    /* "Oh, I see." */
    BANK_FOLLOWUP_LEAD,  /* "But " before a concern that follows an explanation */
    BANK_CHECK_YES,      /* "Yes, I think so." */
    BANK_CHECK_LEAD,     /* "I think so. " before a question */
    BANK_SUMMARY,        /* "Yes, that's right." */
    BANK_TEACHBACK,      /* "So, {p}?" */
    BANK_TEACHBACK_NONE, /* nothing explained yet */
    BANK_CLARIFY,        /* "Sorry, I'm not sure what you mean." */
    BANK_SILENCE,        /* "Sorry, are you still there?" */
    BANK_RESTATE,        /* "Like I said, " */
    BANK_ACK,            /* "Mm-hm." */
    BANK_THANKS,         /* "That's okay." */
    BANK_FAREWELL,       /* "Thank you." */
    BANK_CLOSED,         /* after the closing line */
    BANK_NO_CONCERNS,    /* "I think that's everything, really." */
    BANK_JOIN,           /* "", "And " between two answers */
    BANK_IDENTITY,       /* "It's {name}." */
    BANK_IDENTITY_AGE,   /* "I'm {age}." */
    BANK_CALL_ME,        /* "{first} is fine." */
    BANK_RESPECT,        /* "Please don't speak to me like that." (abuse) */
    BANK_CONFUSED,       /* "Sorry, I don't follow." (talk aimed at the AI, not the patient) */
    BANK_COUNT
};

enum patient_mood patient_lines_mood(const char *persona);

/* The phrasings of a bank for a mood (NULL-terminated, never empty). */
const char *const *patient_lines_bank(enum patient_bank bank, enum patient_mood mood);

/* A patient's question for when the card has none left: in rotation, chosen by the topic of the
 * candidate's last explanation. used is a bit set of questions already asked; returns the
 * index of the question (or -1 when every fitting one was asked). */
int patient_lines_generic_question(const char *explanation, uint32_t used, const char **line);

/* A card concern ("He is worried about losing the job if he stays in hospital.") as the patient
 * says it ("I'm worried about losing the job if I stay in hospital."). gender: the card's. */
void patient_lines_first_person(const char *concern, const char *gender, char *out, size_t cap);

/* The candidate's explanation (normalised words, sentences split by " | ") said back by the
 * patient with persons swapped ("you take one tablet" -> "I take one tablet"); the sentence
 * sharing most words with focus is chosen. 0 and "" when there is nothing to say back. */
int patient_lines_paraphrase(const char *explanation, const char *focus, char *out, size_t cap);

/* 1 when s may start with a lower-case letter after a lead-in ("Like I said, about twenty
 * minutes."): its first word is a common word, not "I" nor a name the card spells capitalised. */
int patient_lines_lowerable(const char *s, const char *card_text);

#endif

/* `praxis seed`: loads the shipped data (data/plans.json and the role-play library, the
 * .json files of data/scenarios) into the database. Idempotent: a second run reports everything
 * unchanged. */
#ifndef PRAXIS_SERVICES_SEED_H
#define PRAXIS_SERVICES_SEED_H

#include "core/common.h"
#include "store/db.h"

typedef struct seed_report {
    int plans_written;
    int plans_unchanged;
    int scenarios_created;   /* new slug: version 1, published */
    int scenarios_updated;   /* content differs from the latest version: new version, published */
    int scenarios_unchanged; /* the latest version already says the same */
} seed_report;

/* Plans first, then every .json file of <dir>/scenarios in file-name order (a missing directory is an
 * empty library). Every scenario file is validated before anything is written, and the library
 * is written in one transaction: an invalid file (err names it and its first problem) changes
 * nothing. Scenarios are matched by slug and written without a user (created_by and the audit
 * actor are NULL). */
int seed_run(db *d, const char *dir, seed_report *rep, char *err, size_t errlen) WUR;

#endif

/* `praxis seed`: loads the shipped data (data/plans.json now; the role-play library when the
 * content service adds it) into the database. Idempotent: rows are upserted and a second run
 * reports everything unchanged. */
#ifndef PRAXIS_SERVICES_SEED_H
#define PRAXIS_SERVICES_SEED_H

#include "core/common.h"
#include "store/db.h"

typedef struct seed_report {
    int plans_written;
    int plans_unchanged;
} seed_report;

int seed_run(db *d, const char *dir, seed_report *rep, char *err, size_t errlen) WUR;

#endif

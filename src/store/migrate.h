/* Schema migrations compiled into the binary (src/store/migrations/NNNN_name[.sqlite|.pg].sql),
 * applied in order, each in its own transaction, recorded in schema_migrations. Safe to run
 * twice and from two processes at once (PostgreSQL: advisory lock; SQLite: the write lock). */
#ifndef PRAXIS_STORE_MIGRATE_H
#define PRAXIS_STORE_MIGRATE_H

#include "core/common.h"
#include "store/db.h"

struct migration_file {
    int version;
    const char *name;
    const char *dialect; /* "all", "sqlite" or "pg" */
    const char *sql;
};

/* Generated at build time. */
extern const struct migration_file migration_files[];
extern const size_t migration_files_count;

/* Applies pending migrations. *applied (may be NULL) gets how many ran. */
int migrate_run(db *d, int *applied, char *err, size_t errlen) WUR;
/* Highest applied version (0 if none), or -1 on error. */
int migrate_current_version(db *d);
/* Highest version compiled into this binary. */
int migrate_latest_version(void);

#endif

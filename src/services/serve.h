/* Boots a serving process: database, migrations, blob store, routes, middleware, HTTP server,
 * then waits for SIGTERM/SIGINT and shuts down gracefully. Shared by `praxis serve` and the test
 * harness (which adds its own routes). */
#ifndef PRAXIS_SERVICES_SERVE_H
#define PRAXIS_SERVICES_SERVE_H

#include "core/config.h"
#include "http/router.h"
#include "store/db.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* Extra routes to register after the services' own (NULL for none). */
typedef int (*serve_extra_routes_fn)(router *r);

/* Returns the process exit code: 0 after a clean shutdown, 2 for configuration problems
 * (printed as one line naming the variable), 1 for runtime failures. */
int serve_run(config *cfg, unsigned services, serve_extra_routes_fn extra);

/* Opens DATABASE_URL; prints a configuration error line and returns -1 on failure. */
int serve_open_db(const config *cfg, db **out);
/* Applies pending migrations, logging the outcome; -1 on failure (printed). */
int serve_migrate(db *d);

#endif

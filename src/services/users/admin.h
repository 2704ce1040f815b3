/* `praxis admin create`: creates an administrator account from the command line. */
#ifndef PRAXIS_SERVICES_USERS_ADMIN_H
#define PRAXIS_SERVICES_USERS_ADMIN_H

#include "store/db.h"
#include <stdio.h>

/* Reads the password from in when it is not a terminal (first line), else generates one and
 * prints it once on out. Returns an exit code (0, 1 runtime, 2 bad input). */
int admin_create_cli(db *d, const char *email, const char *full_name, FILE *in, FILE *out,
                     FILE *errout);

#endif

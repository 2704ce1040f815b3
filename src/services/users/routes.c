/* The users service's route tables, registered together. */
#include "services/users/internal.h"
#include "services/users/users.h"

int users_register_routes(router *r)
{
    if (users_register_auth_routes(r) != 0 || users_register_me_routes(r) != 0 ||
        users_register_admin_routes(r) != 0)
        return -1;
    return 0;
}

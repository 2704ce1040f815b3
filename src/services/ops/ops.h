/* Operations endpoints every process serves: liveness, readiness, metrics, the OpenAPI
 * document and the /docs page. */
#ifndef PRAXIS_SERVICES_OPS_H
#define PRAXIS_SERVICES_OPS_H

#include "core/common.h"
#include "http/router.h"

int ops_register_routes(router *r) WUR;

#endif

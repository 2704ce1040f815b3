#!/usr/bin/env bash
# `make test`: builds the Asan build (AddressSanitizer + UBSan, warnings as errors), starts a
# throwaway PostgreSQL and an SMTP sink, and runs every test through ctest on both drivers. Extra arguments go
# to ctest (e.g. scripts/test.sh -R unit_http_router).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-asan}

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Asan -DPRAXIS_WERROR=ON -DBUILD_TESTING=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

eval "$(scripts/pg-temp.sh start)"
eval "$(scripts/smtp-sink.sh start)"
trap 'scripts/pg-temp.sh stop "$PG_TEMP_DIR"; scripts/smtp-sink.sh stop "$SMTP_SINK_DIR"' EXIT
export PRAXIS_TEST_PG_URL PRAXIS_TEST_SMTP_URL SMTP_SINK_DIR

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/testtmp"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" "$@"

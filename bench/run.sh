#!/usr/bin/env bash
# `make bench`: benchmarks that print their figures. Built in Release (build/).
set -euo pipefail
cd "$(dirname "$0")/.."
build/bench_scorer .

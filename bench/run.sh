#!/usr/bin/env bash
# `make bench`: benchmarks that print their figures. Built in Release (build/). Each starts and
# stops what it needs (a throwaway server on 127.0.0.1 with SQLite in a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== scorer"
build/bench_scorer .
echo "== text turns (scripted patient, 20 concurrent sessions)"
/usr/bin/python3 bench/text_turns.py build/praxis 20 40 0
echo "== voice turns (real-time microphone streams)"
/usr/bin/python3 bench/voice_latency.py build/praxis 6 12

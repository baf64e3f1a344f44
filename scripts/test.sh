#!/usr/bin/env bash
# Runs the whole test suite with Node's test runner. With DATABASE_URL set, every test file gets a
# fresh database on that PostgreSQL server; without it, embedded PGlite.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc --noEmit
mapfile -t files < <(find test -name '*.test.ts' | sort)
exec node --import tsx --test --test-concurrency=2 --test-reporter=spec "${files[@]}"

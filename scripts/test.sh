#!/usr/bin/env bash
# Install everything, then run the whole test suite (no network; about 11 minutes on 2 cores), one test file per
# worker process on REPRO_TEST_WORKERS workers (default 2, this machine's cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
python3 -m pytest -q -n "${REPRO_TEST_WORKERS:-2}" --dist loadfile "$@"

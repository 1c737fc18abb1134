#!/usr/bin/env bash
# Install everything, then run the whole test suite (no network, 13 to 15 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
python3 -m pytest -q "$@"

#!/usr/bin/env bash
# Install everything, run Yosinski et al. 2014 at the default mini scale, and compare.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
repro run yosinski2014
repro compare yosinski2014

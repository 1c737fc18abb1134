#!/usr/bin/env bash
# Install everything, run Yosinski et al. 2014 at the default mini scale from scratch, and compare.
# Results go to ./reproduced (the committed reference results in ./results are left untouched;
# `repro run` skips every run already recorded in the output directory it is given).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
repro run yosinski2014 --out reproduced
repro compare yosinski2014 --out reproduced

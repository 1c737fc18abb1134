#!/usr/bin/env bash
# Install everything transfer-repro needs on a fresh Debian/Ubuntu machine:
# the Debian package with the Fashion-MNIST IDX files (where missing) and the
# Python package with its dependencies from setup.cfg.
set -euo pipefail
cd "$(dirname "$0")/.."

FASHION_DIR="${REPRO_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
if [ ! -f "$FASHION_DIR/train-images-idx3-ubyte.gz" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist
  else
    echo "error: Fashion-MNIST is missing from $FASHION_DIR; install the Debian package dataset-fashion-mnist as root" >&2
    exit 2
  fi
fi

python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"

#!/usr/bin/env bash
# Installs everything hne-tf needs on a fresh Debian machine (run as root, or
# with sudo available): the offline Fashion-MNIST files and the pinned Python stack.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO=sudo
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq dataset-fashion-mnist
fi
python3 -m pip install -q -r requirements.txt

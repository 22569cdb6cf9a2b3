#!/usr/bin/env bash
# Installs everything hne-tf needs on a fresh Debian machine (run as root, or
# with sudo available): the offline Fashion-MNIST files, the pinned Python
# stack, the JDK + JUnit + org.json for the Android demo's engine, and headless
# Chromium + the npm packages for the browser demo.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO=sudo

# Debian packages: data set, JVM test stack, browser.
need=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
command -v javac >/dev/null || need+=(default-jdk-headless)
[ -f /usr/share/java/junit-platform-console-standalone.jar ] || need+=(junit5)
[ -f /usr/share/java/com.android.json.jar ] || need+=(libandroid-json-java)
command -v chromium-headless-shell >/dev/null || [ -x /usr/lib/chromium/chromium-headless-shell ] \
  || need+=(chromium-headless-shell)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}"
fi

# Python: the pinned stack (see docs/architecture.md for why keras-cv and
# tensorflow-model-optimization are deliberately absent).
python3 -m pip install -q -r requirements.txt

# Browser demo: its pinned npm packages (LiteRT.js ships its WASM inside).
if [ -f web_demo/package-lock.json ]; then
  (cd web_demo && npm ci --no-audit --no-fund --loglevel=error)
fi

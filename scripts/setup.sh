#!/usr/bin/env bash
# Installs what dsbench needs and is missing: Debian packages by name, then the npm packages
# pinned in package-lock.json (chart library and browser-test driver). Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

# Libraries are checked by Debian package; tools by the command they provide, so a tool that
# came another way (e.g. Node.js from NodeSource, whose npm is bundled) is not reinstalled.
packages=(
  nlohmann-json3-dev libboost-program-options-dev libboost-dev
  libbenchmark-dev googletest libgtest-dev libgmock-dev
  libopenblas-dev chromium
)
tools=(g++:build-essential cmake:cmake ninja:ninja-build git:git pkg-config:pkg-config
       node:nodejs npm:npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
for t in "${tools[@]}"; do
  if ! command -v "${t%%:*}" >/dev/null 2>&1; then
    missing+=("${t#*:}")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages present"
fi

# npm packages (uPlot for the HTML report, playwright-core for the browser test). `npm ci`
# installs exactly the lockfile; skipped when node_modules already matches it.
if [[ -f package-lock.json ]]; then
  if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
    echo "setup: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  else
    echo "setup: npm packages present"
  fi
fi

#!/usr/bin/env bash
# Installs what the end-to-end tests need to drive a real VS Code with no internet: Debian's
# Chromium (driven by playwright-core), and code-server (VS Code's web build) from npm into
# .cache/code-server. Idempotent: a finished install leaves a marker and is not redone.
#
# code-server's own postinstall cannot be used as is: it downloads ripgrep from the internet. So
# this script does its steps by hand with --ignore-scripts and puts Debian's rg in its place.
set -euo pipefail
cd "$(dirname "$0")/.."

CS_VERSION=4.100.3   # VS Code 1.100; later versions want Node 22 or newer
ROOT="$PWD/.cache/code-server"
MARKER="$ROOT/.installed-$CS_VERSION"

export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null; then
  need=()
  for bin in chromium rg g++ make pkg-config python3; do command -v "$bin" >/dev/null || need+=("$bin"); done
  for dev in libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev; do
    dpkg -s "$dev" >/dev/null 2>&1 || need+=("$dev")
  done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    # Native modules of VS Code (kerberos, keymap, keytar, node-pty) build against these headers.
    apt-get install -y -qq --no-install-recommends chromium ripgrep build-essential pkg-config \
      python3 libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev >/dev/null
  fi
fi

if [ -f "$MARKER" ]; then
  echo "code-server $CS_VERSION already installed in $ROOT"
  exit 0
fi

start=$(date +%s)
rm -rf "$ROOT"
mkdir -p "$ROOT"
cd "$ROOT"
echo '{"name":"code-server-host","private":true}' > package.json
export npm_config_unsafe_perm=true npm_config_yes=true npm_config_fund=false npm_config_audit=false
npm install --ignore-scripts --no-save "code-server@$CS_VERSION"

CS="$ROOT/node_modules/code-server"
cd "$CS/lib/vscode"
npm install --omit=dev --ignore-scripts
mkdir -p node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
npm rebuild @parcel/watcher @vscode/spdlog kerberos native-watchdog node-pty @vscode/deviceid
# What postinstall.sh does after its install.
rm -rf node_modules.asar && ln -s node_modules node_modules.asar
(cd bin/remote-cli && rm -f code-server && ln -s code-linux.sh code-server)
(cd bin/helpers && rm -f browser.sh && ln -s browser-linux.sh browser.sh)
(cd extensions && npm install --omit=dev)
cd "$ROOT"   # argon2 is hoisted to the top node_modules
npm rebuild argon2

touch "$MARKER"
echo "code-server $CS_VERSION installed in $(( $(date +%s) - start ))s"

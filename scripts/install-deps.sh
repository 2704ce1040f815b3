#!/usr/bin/env bash
# Installs the Debian packages praxis needs, and nothing when they are all present.
#   scripts/install-deps.sh          build and run (make run, make build)
#   scripts/install-deps.sh --test   also what `make test` needs (cmocka, the flite CLI, PostgreSQL, pytest)
# Uses sudo when not run as root.
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config
  libmicrohttpd-dev libwslay-dev libjansson-dev libsqlite3-dev libpq-dev libsodium-dev
  libjwt-dev libcurl4-openssl-dev zlib1g-dev libsndfile1-dev libsamplerate0-dev
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us flite1-dev
  curl ca-certificates
)
test_pkgs=(
  libcmocka-dev
  flite
  postfix
  postgresql-15 postgresql-client-15
  python3 python3-pytest python3-requests python3-websockets
)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
  want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# Tests only need postfix's smtp-sink tool: install it without configuring a mail server.
if printf '%s\n' "${missing[@]}" | grep -qx postfix; then
  echo "postfix postfix/main_mailer_type select No configuration" | "${sudo[@]}" debconf-set-selections
fi
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

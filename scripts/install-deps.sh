#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine (idempotent).
# Debian packages: listed in scripts/apt-packages.txt. Python: flowlab with its [dev] extra.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"

mapfile -t pkgs < <(grep -vE '^\s*(#|$)' scripts/apt-packages.txt)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Without systemd, package scripts must not try to start services (openvswitch-switch would
  # fail its postinst); the tests start every daemon they need by hand.
  if [ ! -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v "Running pip as the 'root' user" || true
python3 -c "import flowlab, polars, networkx, elasticsearch, altair" 

#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine (idempotent).
# Debian packages: listed in scripts/apt-packages.txt. Python: flowlab with its [dev] extra,
# installed editable, which builds its compiled core in place (a C compiler is in the list).
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

# -e: builds the compiled core in place (flowlab/_native*.so) from this checkout's native/*.c;
# run again after changing them (docs/native.md). A failed install stops here.
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".[dev]"
python3 -c "import flowlab, polars, networkx, elasticsearch, altair"
python3 - <<'PY'
from flowlab import _accel

native = _accel.native()
if native is None:
    print("install-deps: WARNING: the compiled core (flowlab._native) is not built, the pure "
          "path runs; with CI set its tests fail (docs/native.md)")
else:
    print(f"install-deps: compiled core {native.__file__}")
PY

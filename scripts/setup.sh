#!/usr/bin/env bash
# Set up this machine for ivr (idempotent, used by run-tests.sh and demo.sh):
# 1. installs the missing system packages (as root: apt-get; otherwise it fails and names them):
#    python3 + venv, sipp (sip-tester), debootstrap + zstd (Asterisk chroot), sox, espeak-ng,
#    postgresql (tests), docker-compose (validates docker-compose.yml);
# 2. creates/updates the venv .venv when pyproject.toml or requirements.lock changed: the pinned
#    dependencies from requirements.lock (every extra; regenerate with scripts/lock.sh), then
#    the project itself, editable, without resolving anything (pip install --no-deps -e .);
# 3. provisions Asterisk (scripts/provision-asterisk.sh: a cached Debian sid chroot).
# Environment: IVR_CACHE (chroot cache, default ~/.cache/ivr), IVR_SKIP_APT=1 (never run apt),
# IVR_EXTRA_PACKAGES (more Debian packages to install when missing).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
say() { echo "setup: $*" >&2; }
t0=$(date +%s)

# --- 1. system packages ------------------------------------------------------------------------
# command the suite runs -> Debian package that provides it (extend here when a test needs more)
needs=(python3:python3 sipp:sip-tester sox:sox espeak-ng:espeak-ng zstd:zstd flock:util-linux
       pg_ctlcluster:postgresql docker-compose:docker-compose chromium:chromium
       pdftotext:poppler-utils)
missing=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
for pair in "${needs[@]}"; do
  have_cmd "${pair%%:*}" || missing+=("${pair#*:}")
done
if ! have_cmd python3 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
# debootstrap is only needed when no chroot is cached yet and no system asterisk exists
cache="${IVR_CACHE:-$HOME/.cache/ivr}"
if ! have_cmd asterisk && [ ! -x "$cache/asterisk-sid/usr/sbin/asterisk" ] \
   && [ ! -f "$cache/asterisk-sid.tar.zst" ]; then
  have_cmd debootstrap || missing+=(debootstrap)
fi
# packages without a command to look for: Chinese fonts, so screenshots of the Mandarin UI are
# readable and the monthly report's PDF embeds them; Pango for WeasyPrint; IVR_EXTRA_PACKAGES="pkg1 pkg2": more Debian packages, installed when dpkg lacks them
for pkg in fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 ${IVR_EXTRA_PACKAGES:-}; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || [ -n "${IVR_SKIP_APT:-}" ]; then
    say "missing system packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
    exit 2
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # apt-get update once, only when the lists are absent or the install fails with old lists
  if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then apt-get update -qq; fi
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# --- 2. venv -------------------------------------------------------------------------------
py=$(command -v python3)
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  say "python3 >= 3.11 is required, found $("$py" --version)"; exit 2
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$py" -m venv .venv
fi
stamp=.venv/.ivr-installed
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] \
   || ! .venv/bin/python -c 'import ivr, pytest, pytest_asyncio, pytest_timeout' >/dev/null 2>&1; then
  say "installing the project into .venv (requirements.lock, then pip install --no-deps -e .)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
  echo "$want" > "$stamp"
fi

# --- 3. Asterisk -----------------------------------------------------------------------------
root=$(bash scripts/provision-asterisk.sh | tail -n 1)
say "asterisk root: $root (setup took $(( $(date +%s) - t0 )) s)"


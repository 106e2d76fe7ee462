#!/usr/bin/env bash
# THE test command: ./scripts/run-tests.sh [pytest args...]
#
# 1-3. scripts/setup.sh: system packages, the venv .venv, Asterisk (cached Debian sid chroot);
# 4. the gates: ruff, mypy --strict ivr, import contracts (lint-imports), all configured in
#    pyproject.toml; any failure stops here;
# 5. runs pytest -q with the given arguments. The exit code is pytest's; "no tests collected"
#    (exit 5) is a failure too.
# Environment: IVR_CACHE (chroot cache, default ~/.cache/ivr), IVR_SKIP_APT=1 (never run apt),
# IVR_EXTRA_PACKAGES (more Debian packages to install when missing).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
say() { echo "run-tests: $*" >&2; }
t0=$(date +%s)

bash scripts/setup.sh

# --- 4. gates ---------------------------------------------------------------------------------
say "gates: ruff, mypy --strict, import contracts"
.venv/bin/ruff check ivr tests bench || { say "FAILED: ruff"; exit 1; }
.venv/bin/mypy || { say "FAILED: mypy --strict ivr"; exit 1; }
.venv/bin/lint-imports --no-cache >/dev/null || { .venv/bin/lint-imports --no-cache; say "FAILED: import contracts"; exit 1; }

# --- 5. tests --------------------------------------------------------------------------------
mkdir -p artifacts
set +e
# several test files at once (IVR_TEST_WORKERS, default 4 on any machine): the end-to-end tests
# mostly wait on SIP and Asterisk, so 4 workers on 2 cores take a third of the serial time;
# a file stays on one worker (module fixtures, e.g. a shared lab, are built once)
.venv/bin/python -m pytest -q -n "${IVR_TEST_WORKERS:-4}" --dist loadfile "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  say "FAILED: no tests were collected"
elif [ "$rc" != 0 ]; then
  say "FAILED: pytest exit code $rc (logs under $repo/artifacts/latest)"
else
  say "passed in $(( $(date +%s) - t0 )) s"
fi
exit "$rc"

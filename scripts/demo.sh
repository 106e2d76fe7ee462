#!/usr/bin/env bash
# THE demo command: sets this machine up (scripts/setup.sh), then runs a real ivr — Asterisk 22,
# the controller, SQLite and the sample directory (examples/directory.yaml) — until Ctrl-C.
# Extra arguments go to `python -m ivr.lab.demo` (e.g. --smoke: call every number once, exit).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m ivr.lab.demo "$@"

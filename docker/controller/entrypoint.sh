#!/bin/sh
# Controller start: migrate, render Asterisk's config, install the default prompts missing, serve.
# Configuration comes from IVR_<SECTION>__<KEY> environment variables (docker-compose.yml,
# secrets from .env; docs/config.md).
set -eu
: "${IVR_AMI__SECRET:?IVR_AMI__SECRET is not set}"
: "${IVR_HTTP__API_TOKEN:?IVR_HTTP__API_TOKEN is not set}"
inst="${IVR_ASTERISK__INSTANCE:-/var/lib/ivr-asterisk}"
ivr db upgrade
# rendered files are 0640 with the folder's group: gid 2600 is ivr-config in the Asterisk image
chgrp 2600 /etc/asterisk-rendered && chmod 2750 /etc/asterisk-rendered
ivr render --out /etc/asterisk-rendered
# the default prompts not there yet: all at first start, those a new version adds after an
# upgrade (e.g. the pool's announcements); a prompt already there (a city's own) is kept
python -c 'import sys; from pathlib import Path; from ivr.followup.prompts import generate_default_prompts; generate_default_prompts(Path(sys.argv[1]), missing_only=True)' "$inst/sounds/ivr"
exec ivr serve

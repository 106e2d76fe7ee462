"""Names shared by every layer, defined once: modes, step kinds, outcomes, states, roles.

Everything here is plain data; the database models, the validators, the renderer, the HTTP
schemas and the UI import these instead of repeating them.
"""

from __future__ import annotations

from typing import Final

# --- routing ---------------------------------------------------------------------------------
MODES: Final = ("direct", "pool", "deputy", "voicemail")
STEP_KINDS: Final = ("direct", "deputy", "pool", "voicemail", "message")
CHAIN_KINDS: Final = ("direct", "deputy", "pool", "voicemail")
AVAILABILITY: Final = ("available", "meeting", "dnd", "leave")
# the languages prompts are synthesised in (ivr.followup.prompts); one is selectable for a number
# or an official when a speech model for it is installed or catalogued (ivr.speech.languages)
LANGUAGES: Final = ("zh", "en", "ko")
RING_TIMEOUT_RANGE: Final = (5, 120)

# --- call records ----------------------------------------------------------------------------
# the outcome model: docs/architecture.md, "Call outcomes" (interrupted: not produced yet)
OUTCOMES: Final = ("answered", "voicemail", "missed", "abandoned", "refused", "interrupted")
CALL_KINDS: Final = ("citizen", "callback", "survey", "test", "queued-callback")
# the follow-up's "missed call" case is opened for these (both: nobody answered)
UNANSWERED_OUTCOMES: Final = ("missed", "abandoned")
MIN_MESSAGE_SECONDS: Final = 1.0  # a recording shorter than this is not a message

# --- operators and pools ---------------------------------------------------------------------
OPERATOR_STATES: Final = ("logged_out", "ready", "paused")
# app_queue strategies of Asterisk 22 (queues.conf `strategy=`)
QUEUE_STRATEGIES: Final = ("ringall", "leastrecent", "fewestcalls", "random", "rrmemory",
                           "rrordered", "linear", "wrandom")

# --- accounts and the HTTP surface -----------------------------------------------------------
ROLES: Final = ("admin", "operator", "official", "supervisor")
PUBLIC: Final = "public"   # a route anyone may call, signed in or not
ANY: Final = "any"         # a route any signed-in role may call
SYSTEM: Final = "system"   # the deployment token's identity: may do everything
API_PREFIX: Final = "/api/v1"

"""Flat keys of the single-table config format and their old environment variables:
still accepted by :mod:`ivr.core.config`, with a warning naming the new key."""

from __future__ import annotations

ENV_PREFIX = "IVR_"

# flat keys of the single-table format (``ivr init`` before sections, ``extra`` keys) -> new home
LEGACY_KEYS: dict[str, tuple[str, str]] = {
    "db_url": ("database", "url"), "timezone": ("database", "timezone"),
    "http_host": ("http", "host"), "http_port": ("http", "port"), "api_token": ("http", "api_token"),
    "agi_host": ("agi", "host"), "agi_port": ("agi", "port"),
    "route_answer_timeout": ("agi", "answer_timeout"),
    "ami_host": ("ami", "host"), "ami_port": ("ami", "port"), "ami_user": ("ami", "user"),
    "ami_secret": ("ami", "secret"), "ami_backoff_initial": ("ami", "backoff_initial"),
    "ami_backoff_max": ("ami", "backoff_max"),
    "asterisk_root": ("asterisk", "root"), "asterisk_instance": ("asterisk", "instance"),
    "sip_host": ("sip", "host"), "sip_port": ("sip", "port"),
    "media_address": ("sip", "media_address"), "rtp_start": ("sip", "rtp_start"),
    "rtp_end": ("sip", "rtp_end"),
    "carrier_match": ("carrier", "match"), "carrier_host": ("carrier", "host"),
    "carrier_port": ("carrier", "port"),
    "default_language": ("routing", "default_language"), "default_pool": ("routing", "default_pool"),
    "feed_interval": ("node", "feed_interval"), "node_name": ("node", "name"),
    "voicemail_workers": ("voicemail", "workers"),
    "voicemail_scan_seconds": ("voicemail", "scan_seconds"),
    "voicemail_poll_seconds": ("voicemail", "poll_seconds"),
    "voicemail_preload": ("voicemail", "preload"),
    "voicemail_max_attempts": ("voicemail", "max_attempts"),
    "triage_rules": ("cases", "triage_rules"), "case_deadline_hours": ("cases", "deadline_hours"),
}
# the old environment variables were the old dataclass's fields (``extra`` keys had none)
LEGACY_ENV = {f"{ENV_PREFIX}{k.upper()}": v for k, v in LEGACY_KEYS.items()
              if not k.startswith(("voicemail_", "triage_", "case_"))}

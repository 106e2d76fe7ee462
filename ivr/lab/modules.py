"""Asterisk modules of the lab: the base set every lab instance loads, and the module folder
that holds only the modules a modules.conf loads (Asterisk's ``astmoddir``: a module that is not
there cannot be loaded, by AMI ``ModuleLoad`` or otherwise)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

# A PBX with PJSIP, dialplan, queues, AGI, CEL/CDR over AMI. Each name was checked against the
# Debian sid asterisk 22 module directory; start() fails if any of them is declined.
BASE_MODULES: tuple[str, ...] = (
    # sorcery, pjproject, PJSIP
    "res_sorcery_config", "res_sorcery_memory", "res_sorcery_astdb", "res_pjproject",
    "res_pjsip", "res_pjsip_pubsub", "res_pjsip_session", "chan_pjsip", "res_pjsip_sdp_rtp",
    "res_pjsip_registrar", "res_pjsip_authenticator_digest",
    "res_pjsip_endpoint_identifier_ip", "res_pjsip_endpoint_identifier_user",
    "res_pjsip_caller_id", "res_pjsip_header_funcs", "res_pjsip_rfc3326", "res_pjsip_logger",
    "res_pjsip_acl",
    # media
    "res_rtp_asterisk", "res_timing_timerfd", "res_musiconhold",
    "codec_ulaw", "codec_alaw", "codec_a_mu", "codec_gsm", "codec_resample",
    "format_wav", "format_gsm", "format_pcm", "format_sln",
    # bridging and channels
    "bridge_simple", "bridge_native_rtp", "bridge_builtin_features", "bridge_holding",
    "chan_bridge_media",
    # dialplan and applications
    "pbx_config", "app_dial", "app_queue", "app_playback", "app_record", "app_userevent",
    "app_celgenuserevent", "app_stack", "app_verbose", "app_exec", "app_echo", "app_senddtmf",
    "app_read", "app_originate", "app_while", "app_softhangup", "res_clioriginate",
    "res_speech", "res_agi",
    # functions (STRFTIME lives in func_strings; Local channels and the manager are core)
    "func_db", "func_strings", "func_cut", "func_timeout", "func_callerid", "func_channel",
    "func_logic", "func_global", "func_math", "func_cdr", "func_dialplan", "func_hangupcause",
    "func_rand", "func_uri", "func_pjsip_endpoint",
    # call records and events
    "cel_manager", "res_cdrel_custom", "cel_custom", "cdr_manager",
)

def modules_conf(extra: Iterable[str] = ()) -> str:
    """A minimal ``autoload=no`` modules.conf: BASE_MODULES plus ``extra`` (names with or without .so)."""
    names = list(dict.fromkeys([*BASE_MODULES, *(m.removesuffix(".so") for m in extra)]))
    return "[modules]\nautoload = no\n" + "".join(f"load = {m}.so\n" for m in names)


def link_modules(names: Iterable[str], source: Path, folder: Path) -> None:
    """``folder`` becomes hard links to ``<source>/<name>.so`` for each name (copies across
    file systems). Not symbolic links: AMI ``ModuleLoad`` (a reload too) refuses a module whose
    real path is outside the module folder ("Module must be in the configured modules
    directory")."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in names:
        so = f"{name.removesuffix('.so')}.so"
        try:
            os.link(source / so, folder / so)
        except OSError:
            shutil.copy2(source / so, folder / so)

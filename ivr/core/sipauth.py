"""SIP digest credentials: phones' passwords are never stored, only their HA1.

HA1 = MD5("user:realm:password") is what a digest server needs (RFC 2617/7616, Asterisk's
``md5_cred``); it is bound to the realm and is not the password, so the database, a rendered
``pjsip.conf`` or an AMI ``GetConfig`` reveal no password a phone could be given or that works
elsewhere. The password exists once: in the response that created the phone.
"""

from __future__ import annotations

import hashlib

SIP_REALM = "ivr"  # changing it invalidates every stored HA1 (phones must be given new secrets)


def sip_ha1(username: str, password: str, realm: str = SIP_REALM) -> str:
    """The digest HA1 of a phone's credentials (32 lowercase hex digits)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode(), usedforsecurity=False).hexdigest()


def is_ha1(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)

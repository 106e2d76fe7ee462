"""What the connection says, and what every response says back.

- ``is_secure``: the request came over TLS — directly, or through a proxy listed in ``[http]
  trusted_proxies`` that says so in ``X-Forwarded-Proto`` (anyone else's header is ignored);
  ``[http] secure_cookies`` forces it. Cookies are marked ``Secure`` when it holds.
- ``client_address``: the peer, or the address a trusted proxy put last in ``X-Forwarded-For``
  (the per-source login throttle counts by it).
- ``on_prepare``: every response, pages, API, static files and the router's own 404/405,
  carries ``X-Content-Type-Options: nosniff`` and ``Server: ivr`` (no versions); API responses
  are ``Cache-Control: no-store`` unless the handler chose otherwise (they carry personal data
  and, for a new token, a secret).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

from ivr.core.config import ConfigError
from ivr.http.keys import CONFIG

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def parse_proxies(text: str) -> tuple[Network, ...]:
    """``[http] trusted_proxies`` as networks; ConfigError names a bad entry."""
    nets = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"[http] trusted_proxies: {item!r} is not an address or subnet") from None
    return tuple(nets)


def _from_proxy(request: web.Request) -> bool:
    nets = parse_proxies(request.config_dict[CONFIG].http.trusted_proxies)
    if not nets or not request.remote:
        return False
    try:
        peer = ipaddress.ip_address(request.remote)
    except ValueError:  # a unix socket
        return False
    return any(peer in net for net in nets)


def is_secure(request: web.Request) -> bool:
    if request.secure or request.config_dict[CONFIG].http.secure_cookies:
        return True
    if not _from_proxy(request):
        return False
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    return proto == "https"


def client_address(request: web.Request) -> str:
    """The client's address: the peer, or what a trusted proxy appended to X-Forwarded-For."""
    peer = request.remote or ""
    if _from_proxy(request):
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            return peer
    return peer


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Server"] = "ivr"
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")

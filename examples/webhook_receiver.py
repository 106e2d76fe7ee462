#!/usr/bin/env python3
"""Reference receiver of ivr's notification hook (standard library only; docs/followup.md).

    IVR_WEBHOOK_SECRET=… python3 examples/webhook_receiver.py --port 9000

For each POST it checks the signature — ``X-IVR-Signature: sha256=<hex>`` is
HMAC-SHA256(secret, ``X-IVR-Timestamp`` + "." + raw body) — and that the timestamp is within
five minutes, then acts once per ``X-IVR-Idempotency-Key`` (ivr retries with the same key):
it prints the event and answers 200; a repeated key answers 200 without acting again; a bad
signature or an old timestamp answers 401 (ivr retries, then gives up). Replace ``act`` with the
bridge to WeChat Work, DingTalk or SMS. Keys are remembered in memory only: a real bridge keeps
them (e.g. in its database) for as long as ivr may retry.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock
from typing import Any

TOLERANCE = 300  # seconds
MAX_BODY = 1024 * 1024


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None) -> bool:
    """True if ``signature`` is ivr's signature of ``body`` sent at ``timestamp`` (recent)."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
    return age <= TOLERANCE and hmac.compare_digest(expected, signature)


def act(event: dict[str, Any]) -> None:
    case = event.get("case", {})
    who = (case.get("escalated_to") or case.get("official") or {}).get("slug", "-")
    print(f"verified {event.get('event')} key={event.get('idempotency_key')} case={case.get('id')} "
          f"to={who}", flush=True)


class Handler(BaseHTTPRequestHandler):
    secret = ""
    seen: set[str] = set()
    lock = Lock()

    def _answer(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self._answer(400, "body required")
            return
        body = self.rfile.read(length)
        if not verify(self.secret, self.headers.get("X-IVR-Timestamp", ""), body,
                      self.headers.get("X-IVR-Signature", "")):
            print(f"rejected: bad signature ({self.headers.get('X-IVR-Idempotency-Key')})",
                  flush=True)
            self._answer(401, "bad signature")
            return
        key = self.headers.get("X-IVR-Idempotency-Key", "")
        with self.lock:
            duplicate = key in self.seen
            self.seen.add(key)
        if duplicate:
            print(f"duplicate {key}", flush=True)
            self._answer(200, "duplicate")
            return
        act(json.loads(body))
        self._answer(200, "ok")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (quiet access log)
        return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)
    Handler.secret = os.environ.get("IVR_WEBHOOK_SECRET", "")
    if not Handler.secret:
        print("set IVR_WEBHOOK_SECRET to the [webhooks] secret of ivr", file=sys.stderr)
        return 2
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"listening on http://{args.host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

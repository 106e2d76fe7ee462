"""A FastAGI server whose answer time is bounded.

Asterisk waits without limit for a FastAGI server that has accepted the connection, so the
server bounds itself: a handler that has not produced its variables within ``answer_timeout``
is abandoned and the connection closed; the dialplan then uses the AstDB mirror. (The dialplan
bounds it too, with an absolute channel timeout, for a controller that is hung as a whole.)
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping

log = logging.getLogger(__name__)

AgiHeaders = dict[str, str]
# A route handler gets the AGI headers and returns the channel variables to set.
AgiHandler = Callable[[AgiHeaders], Awaitable[Mapping[str, str]]]

MAX_HEADER_BYTES = 16384
# Connections the kernel queues before the server accepts them: a burst of the per-node target
# (300 calls set up at once, docs/deploy.md "Sizing") while the loop is busy, rounded up to a
# power of two; Linux caps it at net.core.somaxconn (4096 by default since 5.4).
BACKLOG = 512
_AGI_KEY = re.compile(r"agi_[a-z0-9_]+")


def quote(value: str) -> str:
    """Quote a value for ``SET VARIABLE``: backslash and double quote escaped, no newlines."""
    value = value.replace("\r", " ").replace("\n", " ")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class FastAgiServer:
    def __init__(self, routes: Mapping[str, AgiHandler], answer_timeout: float = 0.8,
                 limits: Mapping[str, float] | None = None) -> None:
        """``limits``: a longer answer time for some routes (a feature code writes the database
        and the mirror before it answers; calls never wait for those)."""
        self.routes = dict(routes)
        self.answer_timeout = answer_timeout
        self.limits = dict(limits or {})
        self.server: asyncio.Server | None = None
        self.stats = {"requests": 0, "answered": 0, "timeouts": 0, "errors": 0}

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self._client, host, port, backlog=BACKLOG)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats["requests"] += 1
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            # one bound for the whole answer, headers included (a route's own limit, if any)
            headers = await asyncio.wait_for(read_headers(reader), self.answer_timeout)
            limit = self.limits.get(headers.get("agi_network_script", ""), self.answer_timeout)
            left = max(0.0, limit - (loop.time() - start))
            await asyncio.wait_for(self._serve(headers, reader, writer), left)
            self.stats["answered"] += 1
        except TimeoutError:
            self.stats["timeouts"] += 1
            log.warning("FastAGI answer took longer than %.2fs: the dialplan uses the mirror",
                        self.answer_timeout)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            self.stats["errors"] += 1
            log.warning("FastAGI request failed: %s", exc)
        except Exception:
            self.stats["errors"] += 1
            log.exception("FastAGI handler failed")
        finally:
            writer.close()

    async def _serve(self, headers: AgiHeaders, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        script = headers.get("agi_network_script", "")
        handler = self.routes.get(script)
        if handler is None:
            raise ValueError(f"no FastAGI route {script!r}")
        variables = await handler(headers)
        # One command at a time: Asterisk reads commands with stdio behind poll(), so a second
        # pipelined command could sit in its buffer unseen.
        for name, value in variables.items():
            writer.write(f"SET VARIABLE {name} {quote(value)}\n".encode())
            line = await reader.readline()
            if not line.startswith(b"200"):
                raise ConnectionError(f"Asterisk refused SET VARIABLE {name}: {line!r}")


async def read_headers(reader: asyncio.StreamReader) -> AgiHeaders:
    headers: AgiHeaders = {}
    size = 0
    while True:
        line = await reader.readline()
        if not line:
            raise asyncio.IncompleteReadError(b"", None)
        size += len(line)
        if size > MAX_HEADER_BYTES:
            raise ValueError("AGI header block too large")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            return headers
        # Every line Asterisk sends is "agi_<name>: value", each name once. Anything else is a
        # value's CR/LF (the caller ID is the caller's; the dialplan cleans it before AGI, this
        # is the second guard): refuse the request rather than read variables from a value.
        key, sep, value = text.partition(": ")
        if not sep or not _AGI_KEY.fullmatch(key) or key in headers:
            raise ValueError(f"malformed AGI header line {text[:80]!r}")
        headers[key] = value

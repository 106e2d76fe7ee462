"""A trivial stdlib FastAGI server for the set-up latency experiments (not the controller).

    python trivial_agi.py PORT VALUES.json

Scripts (agi://host:PORT/<script>):
  route2  answers like the controller: SET VARIABLE IVR_PLAN, then IVR_INFO (values per dialed
          number from VALUES.json: {"<number>": {"IVR_PLAN": ..., "IVR_INFO": ...}}), one at a
          time, then closes;
  route1  one SET VARIABLE (IVR_INFO only), then closes;
  route0  reads the headers and closes at once.
Also logs nothing, keeps no state: the floor of what a FastAGI hop costs on this machine.
"""

from __future__ import annotations

import asyncio
import json
import sys


def quote(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def main() -> None:
    port = int(sys.argv[1])
    values = json.loads(open(sys.argv[2]).read())

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            h = {}
            while True:
                line = await reader.readline()
                if not line or line in (b"\n", b"\r\n"):
                    break
                k, _, v = line.decode().rstrip("\r\n").partition(": ")
                h[k] = v
            script = h.get("agi_network_script", "")
            vals = values.get(h.get("agi_arg_1", ""), {})
            names = {"route2": ["IVR_PLAN", "IVR_INFO"], "route1": ["IVR_INFO"]}.get(script, [])
            for n in names:
                writer.write(f"SET VARIABLE {n} {quote(vals.get(n, ''))}\n".encode())
                await reader.readline()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", port, backlog=512)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())

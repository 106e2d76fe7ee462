"""Schemathesis against the real app's OpenAPI document (issue 9): every operation, examples
from the schemas and mutated away from them, for a bounded time (``MAX_SECONDS``). Required:
schema-valid requests accepted and schema-invalid ones refused (4xx), no server error (a 503
with an error_id — a real dependency down, here AMI — is allowed by the check below), every
status, content type, header and body as the document says. One worker:
with two threads, CPython 3.11's ``ast.parse`` (hypothesis describing a filter lambda) sometimes
fails with "AST constructor recursion depth mismatch", an error of the tool, not of ivr."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from aiohttp import web

from ivr.app import create_app
from ivr.directory.importer import import_text
from ivr.http.keys import DB
from ivr.lab import ports
from tests.unit.apps import unit_config
from tests.unit.test_web_hardening import DIRECTORY

TOKEN = "deployment-token-for-fuzzing"
MAX_SECONDS = 150
# positive_data_accepted: schemathesis' positive_data_acceptance but for the error_ids of rules
# no JSON schema can say (tests/unit/schemathesis_hooks.py, SEMANTIC)
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance,"
          "positive_data_accepted,negative_data_rejection")
# a month's report renders PDFs (seconds each under load): a few examples, a longer timeout
CONFIG = """
[[operations]]
include-path = "/supervision/reports"
include-method = "POST"
request-timeout = 90
generation.max-examples = 4
"""


async def test_openapi_fuzz_finds_no_server_error(tmp_path: Path) -> None:
    config = unit_config(tmp_path, database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"},
                         http={"api_token": TOKEN})
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    port = ports.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await import_text(app[DB], DIRECTORY, "yaml", "test")
        st = Path(sys.executable).with_name("schemathesis")
        (tmp_path / "schemathesis.toml").write_text(CONFIG)
        proc = await asyncio.create_subprocess_exec(
            str(st), "--config-file", str(tmp_path / "schemathesis.toml"), "run", f"http://127.0.0.1:{port}/api/v1/openapi.json",
            "-H", f"Authorization: Bearer {TOKEN}", "--checks", CHECKS,
            "--max-examples", "30", "--max-time", str(MAX_SECONDS), "--workers", "1",
            "--seed", os.environ.get("IVR_FUZZ_SEED", "9"), "--no-color", "--request-timeout", "20",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.unit.schemathesis_hooks",
                 "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
        out, _ = await asyncio.wait_for(proc.communicate(), MAX_SECONDS + 120)
    finally:
        await runner.cleanup()
    text = out.decode(errors="replace")
    failures = text[text.find("= FAILURES ="):text.find("= WARNINGS =")][:6000]
    assert proc.returncode == 0, failures + text[-3000:]
    tested = re.search(r"Tested: (\d+)", text)
    assert " passed" in text and tested and int(tested.group(1)) >= 40, text[-3000:]  # every op

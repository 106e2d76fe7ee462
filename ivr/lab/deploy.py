"""A complete ivr deployment on this machine: real Asterisk + controller + SQLite + directory.

Used by the demo, the end-to-end tests and the benchmarks. Every deployment picks its own free
ports and its own Asterisk instance folder, so several run side by side.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.asterisk.render import render_all
from ivr.core.config import Config
from ivr.db.session import create_engine, make_sessionmaker, upgrade_async
from ivr.db.settings import seed_settings
from ivr.directory.asterisk_input import load_render_input
from ivr.directory.importer import import_text
from ivr.followup.prompts import (
    ANNOUNCE_PROMPTS,
    DEFAULT_PROMPTS,
    generate_default_prompts,
    number_prompts,
)
from ivr.lab import ports
from ivr.lab.asterisk import AsteriskInstance, _set_pdeathsig

REPO = Path(__file__).resolve().parents[2]

def install_prompts(dest: Path) -> None:
    """The default prompts in every prompt language (espeak-ng), synthesised once and cached (the
    cache is named after their texts: a new or changed prompt makes a new one)."""
    texts = hashlib.sha256(repr((DEFAULT_PROMPTS, ANNOUNCE_PROMPTS, number_prompts(), 'trim'))
                           .encode()).hexdigest()[:12]
    cache = Path(os.environ.get("IVR_CACHE", Path.home() / ".cache" / "ivr")) / f"prompts-{texts}"
    if not (cache / "zh" / "ivr-beep.wav").exists():
        # test workers may all build it at once: each in its own folder, renamed into place
        # (atomic); a worker that finds the cache there already drops its own copy
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        generate_default_prompts(tmp)
        try:
            tmp.rename(cache)
        except OSError:  # another worker's copy is in place (a non-empty folder)
            shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(cache, dest, dirs_exist_ok=True)


@dataclass
class LabDeployment:
    root: Path
    workdir: Path
    config: Config
    asterisk: AsteriskInstance
    controller: subprocess.Popen[bytes] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://{self.config.http.host}:{self.config.http.port}"

    @property
    def sip(self) -> tuple[str, int]:
        return (self.config.sip.host, self.config.sip.port)

    # -- controller ---------------------------------------------------------------------------
    def start_controller(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ, IVR_CONFIG=str(self.workdir / "ivr.toml"))
        log = open(self.workdir / "controller.log", "ab")
        # dies with the process that started it (tests, demo, bench): no orphan controllers
        main = threading.current_thread() is threading.main_thread()
        self.controller = subprocess.Popen([sys.executable, "-m", "ivr.app"], env=env,
                                           stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                           preexec_fn=_set_pdeathsig if main else None)
        log.close()
        return self.controller

    def signal_controller(self, sig: int) -> None:
        assert self.controller is not None
        self.controller.send_signal(sig)
        if sig == signal.SIGKILL:
            self.controller.wait()

    def stop_controller(self) -> None:
        if self.controller is None:
            return
        if self.controller.poll() is None:
            self.controller.send_signal(signal.SIGCONT)
            self.controller.terminate()
            try:
                self.controller.wait(10)
            except subprocess.TimeoutExpired:
                self.controller.kill()
                self.controller.wait()
        self.controller = None

    def health(self) -> dict[str, Any] | None:
        """/healthz in full (the details need a token: the deployment's API token)."""
        req = urllib.request.Request(f"{self.api}/healthz", headers={
            "Authorization": f"Bearer {self.config.http.api_token}"})
        try:
            with urllib.request.urlopen(req, timeout=2) as r:
                health: dict[str, Any] = json.loads(r.read())
                return health
        except OSError:
            return None

    async def wait_ready(self, timeout: float = 60.0, min_resyncs: int = 1) -> dict[str, Any]:
        """Until the controller is logged in to AMI and has resynced Asterisk."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.controller is not None and self.controller.poll() is not None:
                raise RuntimeError(f"controller exited:\n{self.controller_log()[-3000:]}")
            h = await asyncio.to_thread(self.health)
            if h and h["ami"] and h["mirror_in_sync"] and h["resyncs"] >= min_resyncs:
                return h
            await asyncio.sleep(0.1)
        raise TimeoutError(f"controller not ready:\n{self.controller_log()[-3000:]}")

    def controller_log(self) -> str:
        p = self.workdir / "controller.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def request(self, method: str, path: str, body: Any = None, *, text: str | bytes | None = None,
                content_type: str = "application/yaml") -> tuple[int, Any]:
        """Call the REST API: a JSON ``body``, or a raw ``text`` body of ``content_type``."""
        if text is not None:
            data: bytes | None = text.encode() if isinstance(text, str) else text
        else:
            data, content_type = (None if body is None else json.dumps(body).encode(),
                                  "application/json")
        req = urllib.request.Request(f"{self.api}{path}", data=data, method=method, headers={
            "Authorization": f"Bearer {self.config.http.api_token}", "Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    async def arequest(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await asyncio.to_thread(lambda: self.request(method, path, body, **kw))

    def astdb(self, key: str) -> str | None:
        out = self.asterisk.cli(f"database get ivr {key}")
        return out.split("Value:", 1)[1].strip() if "Value:" in out else None

    def close(self) -> None:
        self.stop_controller()
        self.asterisk.stop()


async def create_lab(root: Path, workdir: Path, directory_yaml: str, *, name: str = "ivr",
                     carrier_port: int | None = None, start_asterisk: bool = True,
                     import_directory: bool = True,
                     **config_sections: Mapping[str, Any]) -> LabDeployment:
    """Import ``directory_yaml`` into a fresh SQLite database, render and start Asterisk.

    ``config_sections`` override settings by section, e.g. ``voicemail={"workers": 1}``.
    Several nodes on one database: pass the same ``database={"url": …}`` and a
    ``node={"name": …}`` each (it is also the Asterisk ``systemname``), and
    ``import_directory=False`` for all but the first."""
    workdir.mkdir(parents=True, exist_ok=True)
    sip_port, ami_port, agi_port, http_port = ports.free_ports(4)
    rtp = ports.rtp_range(200)
    inst = AsteriskInstance(root, name, {}, rtp=rtp,
                            systemname=config_sections.get("node", {}).get("name"))
    values: dict[str, dict[str, Any]] = {
        "database": {"url": f"sqlite+aiosqlite:///{workdir / 'ivr.db'}"},
        "http": {"api_token": secrets.token_urlsafe(24), "port": http_port},
        "ami": {"secret": secrets.token_urlsafe(24), "user": "ivr", "port": ami_port},
        "agi": {"port": agi_port},
        "sip": {"port": sip_port, "rtp_start": rtp.start, "rtp_end": rtp.end},
        "carrier": {"host": "127.0.0.2", "match": "127.0.0.2",
                    "port": carrier_port or ports.free_port("127.0.0.2")},
        "asterisk": {"root": str(root), "instance": str(inst.instance_dir)}}
    for section, settings in config_sections.items():
        values[section] = {**values.get(section, {}), **settings}
    config = Config.from_mapping(values)
    fd = os.open(workdir / "ivr.toml", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:  # its secrets: owner only
        os.fchmod(fh.fileno(), 0o600)
        fh.write(config.to_toml())
    await upgrade_async(config.database.url)
    engine = create_engine(config)
    credentials: dict[str, str] = {}
    try:
        db = make_sessionmaker(engine)
        await seed_settings(db, config)
        if import_directory:  # the phones' passwords exist only here (stored as digest HA1)
            credentials = (await import_text(db, directory_yaml, "yaml", "lab")).new_credentials
        files = render_all(await load_render_input(db, config))
    finally:
        await engine.dispose()
    for fname, text in files.items():
        inst.write_file(fname, text)
    for d in (config.voicemail_dir, config.cel_journal.parent):
        d.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(install_prompts, config.host_path(config.prompts_dir_inside))
    lab = LabDeployment(root, workdir, config, inst, extra={"credentials": credentials})
    if start_asterisk:
        # on the main thread (0.4 s): Asterisk then dies with this process (PR_SET_PDEATHSIG
        # fires when the starting thread ends, so a worker thread would not do)
        inst.start()
    return lab

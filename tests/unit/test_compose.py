"""docker-compose.yml: valid, and refuses to start without the deployment's secrets.

Runs the real ``docker-compose config`` (Debian package docker-compose; scripts/run-tests.sh
installs it). No Docker engine is needed for that, and none is used: images are not built here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ivr.core.config import Config

REPO = Path(__file__).resolve().parents[2]
REQUIRED = {
    "IVR_AMI_SECRET": "ami-secret-for-test", "IVR_API_TOKEN": "api-token-for-test",
    "IVR_DB_PASSWORD": "db-password-for-test", "IVR_SIP_HOST": "192.0.2.10",
    "IVR_MEDIA_ADDRESS": "192.0.2.10", "IVR_CARRIER_HOST": "sip.carrier.example",
    "IVR_CARRIER_MATCH": "203.0.113.0/24",
}


def compose(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: apt-get install docker-compose "
                    "(scripts/run-tests.sh does)", pytrace=False)
    empty = tmp_path / "empty.env"  # never read a developer's real .env
    empty.write_text("", encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "COMPOSE_"))}
    return subprocess.run([exe, "--env-file", str(empty), "-f", str(REPO / "docker-compose.yml"),
                           "config", *args], cwd=REPO, env={**base, **env}, capture_output=True,
                          text=True, timeout=60)


def test_compose_config_is_valid_with_secrets(tmp_path: Path) -> None:
    assert compose(tmp_path, REQUIRED, "-q").returncode == 0
    done = compose(tmp_path, REQUIRED)
    assert done.returncode == 0, done.stderr
    cfg = yaml.safe_load(done.stdout)
    services = cfg["services"]
    assert set(services) == {"asterisk", "controller", "postgres"}
    assert all(s.get("network_mode") == "host" and "ports" not in s for s in services.values())
    env = services["controller"]["environment"]
    assert env["IVR_AMI__SECRET"] == REQUIRED["IVR_AMI_SECRET"]
    assert env["IVR_DATABASE__URL"].startswith("postgresql+asyncpg://ivr:db-password-for-test@127.0.0.1:")
    # the controller's environment is a valid config: every IVR_X__Y names a setting
    (tmp_path / "empty.toml").write_text("", encoding="utf-8")
    config = Config.load(tmp_path / "empty.toml", env={k: str(v) for k, v in env.items()})
    assert (config.sip.media_address, config.carrier.match, config.http.api_token) == (
        REQUIRED["IVR_MEDIA_ADDRESS"], (REQUIRED["IVR_CARRIER_MATCH"],), REQUIRED["IVR_API_TOKEN"])
    assert "healthcheck" in services["postgres"]
    assert services["controller"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    mounts = {m.split(":")[1]: m for m in services["controller"]["volumes"]}
    assert mounts["/var/lib/ivr-asterisk/log"].endswith(":ro")  # reads the CEL journal
    assert "pgdata" in cfg["volumes"]


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_compose_refuses_without_each_required_value(tmp_path: Path, missing: str) -> None:
    envs = [{k: v for k, v in REQUIRED.items() if k != missing}]
    if missing == "IVR_AMI_SECRET":
        envs.append({**REQUIRED, missing: ""})  # an empty value (a copied .env.example) too
    for env in envs:
        done = compose(tmp_path, env, "-q")
        assert done.returncode != 0 and f"set {missing}" in done.stderr, done.stderr


def test_env_example_has_placeholders_only() -> None:
    values = {}
    for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    assert set(REQUIRED) <= set(values) and not any(values[k] for k in REQUIRED)

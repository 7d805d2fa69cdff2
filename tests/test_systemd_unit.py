"""systemd/watcher.service: hardened, Type=notify, and accepted by `systemd-analyze verify`.

`systemd-analyze verify` exits 0 even on unknown keys, so any output on its standard
error fails the test. Without systemd-analyze the test skips, except under CI (CI=true),
where .ci/run installs systemd first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

UNIT = REPO / "systemd" / "watcher.service"
EXEC = "/opt/watcher/bin/watcher"


def analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing in CI: .ci/run must install systemd")
        pytest.skip("systemd-analyze is not installed")
    return path


def copy_unit(tmp_path: Path, text: str | None = None) -> Path:
    """The unit in a temporary folder, its ExecStart pointed at an executable that exists."""
    exe = tmp_path / "watcher"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    unit = tmp_path / "watcher.service"
    unit.write_text((text or UNIT.read_text()).replace(EXEC, str(exe)))
    return unit


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([analyze(), "verify", str(unit)], capture_output=True, text=True,
                          timeout=60, cwd=unit.parent)


def settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_unit_declares_the_contract() -> None:
    s = settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["WatchdogSec"] and s["Restart"] == ["on-failure"]
    assert s["ExecStart"][0].startswith(EXEC + " run")
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["DynamicUser"] == ["yes"] and s["StateDirectory"] == ["watcher"]
    assert s["EnvironmentFile"][0].startswith("-/etc/watcher/")
    for key, value in [("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                       ("PrivateTmp", "yes"), ("NoNewPrivileges", "yes"),
                       ("SystemCallFilter", "@system-service")]:
        assert value in s[key], key
    assert s["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]


def test_systemd_analyze_verify_is_silent(tmp_path: Path) -> None:
    result = verify(copy_unit(tmp_path))
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_verify_would_catch_a_typo(tmp_path: Path) -> None:
    """The check above can fail: an unknown key gives stderr output (but exit code 0)."""
    broken = UNIT.read_text().replace("ProtectHome=yes", "ProtectHome=yes\nProtectHomme=yes")
    result = verify(copy_unit(tmp_path, broken))
    assert "ProtectHomme" in result.stderr


def test_security_exposure_is_ok(tmp_path: Path) -> None:
    result = subprocess.run([analyze(), "security", "--offline=true",
                             str(copy_unit(tmp_path))], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    found = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0 and found.group(2) == "OK"

"""The README's systemd install steps, run as written into a temporary root.

Every line of the README's install block runs (with `sudo` dropped and the absolute paths
/opt/watcher, /etc/watcher, /etc/systemd/system and /var/lib/watcher moved under the
temporary root), except `apt-get` and `systemctl`, which a container cannot run. The
clone is a fresh copy of the source, deleted before the checks: the installed watcher
must run from /opt/watcher alone, and `systemd-analyze verify` must accept the installed
unit with every path it names present.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_systemd_unit import analyze

README = REPO / "README.md"
MOVED = ("/opt/watcher", "/etc/watcher", "/etc/systemd/system", "/var/lib/watcher")
NOT_IN_A_CONTAINER = ("apt-get", "systemctl")
ON_DEBIAN = ("opt", "etc/systemd/system", "var/lib")   # folders a Debian 12 system has


def install_steps() -> list[str]:
    """The lines of the README's install block (the sh block after its marker)."""
    text = README.read_text(encoding="utf-8")
    marker = text.index("<!-- install-steps")
    block = re.search(r"```sh\n(.*?)```", text[marker:], re.DOTALL)
    assert block is not None, "no install block after the marker"
    return [line for line in block.group(1).splitlines() if line.strip()]


def in_root(line: str, root: Path) -> str:
    for path in MOVED:
        line = line.replace(path, f"{root}{path}")
    return line


def fresh_clone(dest: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "__pycache__",
                                    ".mypy_cache", ".pytest_cache", ".ruff_cache")
    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


def test_the_steps_are_plain_commands() -> None:
    steps = install_steps()
    assert any("python3 -m venv /opt/watcher" in s for s in steps)
    assert any(s.endswith("/opt/watcher/bin/pip install .") for s in steps)
    assert not any("cp -r" in s or ".venv" in s for s in steps), "never copy a venv"


@pytest.mark.slow
def test_readme_install_steps_work_into_a_temporary_root(tmp_path: Path) -> None:
    systemd_analyze = analyze()
    root = tmp_path / "root"
    for folder in ON_DEBIAN:
        (root / folder).mkdir(parents=True)
    clone = fresh_clone(tmp_path / "clone")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(sys.prefix))   # not the test venv
    for step in install_steps():
        if any(word in step for word in NOT_IN_A_CONTAINER):
            continue
        command = in_root(step.removeprefix("sudo "), root)
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{step}\n{done.stdout}\n{done.stderr}"
    shutil.rmtree(clone)   # the installed watcher needs nothing from the clone

    venv = root / "opt/watcher"
    exe = venv / "bin/watcher"
    shebang = exe.read_text().splitlines()[0]
    assert shebang.startswith(f"#!{venv}/bin/python"), shebang
    where = subprocess.run([str(venv / "bin/python"), "-c",
                            "import watcher; print(watcher.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("watcher "), version.stderr
    config = (root / "etc/watcher/watcher.toml").read_text()
    assert f'state = "{root}/var/lib/watcher/watcher.db"' in config
    assert oct((root / "etc/watcher/watcher.env").stat().st_mode & 0o777) == "0o600"

    unit = root / "etc/systemd/system/watcher.service"
    text = in_root(unit.read_text(), root)
    docs = re.search(r"^Documentation=file://(\S+)$", text, re.MULTILINE)
    assert docs is not None and Path(docs.group(1)).is_file(), "Documentation= names nothing"
    start = re.search(r"^ExecStart=(\S+)", text, re.MULTILINE)
    assert start is not None and start.group(1) == str(exe)
    (root / "var/lib/watcher").mkdir(parents=True, exist_ok=True)
    unit.write_text(text)
    result = subprocess.run([systemd_analyze, "verify", str(unit)], capture_output=True,
                            text=True, timeout=120, cwd=unit.parent)
    assert result.returncode == 0 and result.stderr == "", result.stderr

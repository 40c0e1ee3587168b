"""The products, as packages: the Singer loader installs and runs without the web stack;
the channel, its dashboard and `reveni-khaos serve` come with the `channel` extra."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ("starlette", "uvicorn", "defusedxml", "httpx")


def test_the_loaders_own_dependencies_hold_no_web_stack() -> None:
    project = tomllib.loads((ROOT / "target-khaos-control" / "pyproject.toml").read_text())["project"]

    base = " ".join(project["dependencies"])
    channel = " ".join(project["optional-dependencies"]["channel"])

    assert not [name for name in WEB if name in base]
    assert all(name in channel for name in ("starlette", "uvicorn", "defusedxml"))


def test_the_target_and_the_commands_run_with_no_web_package_importable() -> None:
    # `sys.modules[name] = None` makes every import of it fail, as if it were not installed.
    without_web = f"import sys\nfor name in {WEB!r}: sys.modules[name] = None\n"
    about = _python(
        without_web + "from target_khaos_control.target import TargetKhaosControl\n"
        "TargetKhaosControl.cli(['--about', '--format', 'json'])\n"
    )
    serve = _python(
        without_web + "from target_khaos_control.operations.cli import main\nmain(['serve', '--config', 'x.json'])\n"
    )

    assert about.returncode == 0, about.stderr
    assert '"name": "target-khaos-control"' in about.stdout
    assert serve.returncode == 1
    assert "reveni-khaos serve: the channel needs the `channel` extra" in serve.stderr
    assert "Traceback" not in serve.stderr


def _python(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)

"""The docs and the README name only commands and settings that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from target_khaos_control.operations.cli import parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text())


def _code_lines(page: Path) -> list[str]:
    lines, inside = [], False
    for line in page.read_text().splitlines():
        if line.strip().startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line.split(" #")[0].strip())
    return lines


def _settings() -> set[str]:
    names = set()
    for kind in ("extractors", "loaders"):
        for plugin in PROJECT["plugins"][kind]:
            for setting in plugin.get("settings", []):
                prefix = plugin["name"].upper().replace("-", "_")
                names.add(f"{prefix}_{setting['name'].upper()}")
    for plugin in PROJECT["plugins"]["extractors"] + PROJECT["plugins"]["loaders"]:
        if "inherit_from" in plugin:  # an inherited plugin reads its parent's settings under its own name
            parent = plugin["inherit_from"].upper().replace("-", "_")
            child = plugin["name"].upper().replace("-", "_")
            names |= {name.replace(parent, child, 1) for name in names if name.startswith(parent + "_")}
    return names


def test_there_are_docs_for_each_team() -> None:
    assert {page.stem for page in PAGES} >= {"finance", "warehouse", "cx", "consultant", "integration"}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_reveni_khaos_command_parses(page: Path) -> None:
    commands = [m.group(1) for line in _code_lines(page) if (m := re.search(r"(?:^|[\s/])reveni-khaos\s+(.+)$", line))]
    for command in commands:
        try:
            parser().parse_args(shlex.split(command))
        except SystemExit as refused:
            pytest.fail(f"{page.name}: `reveni-khaos {command}` does not parse ({refused})")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_make_target_meltano_job_and_setting_exists(page: Path) -> None:
    makefile = (ROOT / "Makefile").read_text()
    jobs = {job["name"] for job in PROJECT["jobs"]}
    utility = next(p for p in PROJECT["plugins"]["utilities"] if p["name"] == "reveni-khaos")
    for line in _code_lines(page):
        if m := re.match(r"make ([\w-]+)", line):
            assert re.search(rf"^{m.group(1)}:", makefile, re.MULTILINE), f"{page.name}: no make target {m.group(1)}"
        if m := re.search(r"meltano (?:--environment \w+ )?run (?:--full-refresh )?([\w-]+)$", line):
            assert m.group(1) in jobs, f"{page.name}: no Meltano job {m.group(1)}"
        if m := re.search(r"meltano invoke reveni-khaos:([\w-]+)", line):
            assert m.group(1) in utility["commands"], f"{page.name}: no reveni-khaos command {m.group(1)}"
    known = _settings()
    for variable in set(re.findall(r"\b(?:TAP_REVENI|TARGET_KHAOS_CONTROL)_[A-Z0-9_]+", page.read_text())):
        assert variable in known, f"{page.name}: {variable} is not a setting of any plugin"

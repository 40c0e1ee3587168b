"""`make demo` (reveni-khaos-demo): it deletes and overwrites nothing until it knows it can run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from reveni_khaos_sandbox import demo

ROOT = Path(__file__).resolve().parent.parent


def test_a_busy_port_stops_the_demo_before_it_touches_the_store(tmp_path: Path, monkeypatch: Any) -> None:
    store = tmp_path / "output" / "reveni-khaos.db"
    store.parent.mkdir()
    store.write_bytes(b"yesterday's demo")
    config = {"database_url": "sqlite:///output/reveni-khaos.db", "public_url": "http://127.0.0.1:8803"}
    monkeypatch.setattr(demo, "meltano", lambda *args, **kwargs: json.dumps(config))
    monkeypatch.setattr(demo, "_answers", lambda url: url.endswith("/healthz"))  # something holds the channel's port

    with pytest.raises(demo.DemoError, match=r"already answers at http://127\.0\.0\.1:8803/healthz"):
        demo.run_demo(tmp_path, tmp_path / ".demo")

    assert store.read_bytes() == b"yesterday's demo"
    assert not (tmp_path / demo.CHANNEL_CONFIG).exists()


def test_the_demo_writes_the_channel_config_where_the_docs_and_meltano_read_it() -> None:
    readme = (ROOT / "docs" / "README.md").read_text()
    commands = next(p for p in yaml.safe_load((ROOT / "meltano.yml").read_text())["plugins"]["utilities"])["commands"]

    assert f"`{demo.CHANNEL_CONFIG}`" in readme
    demo_client = {name: c for name, c in commands.items() if "--config" in c["args"] and "acme" not in name}
    assert demo_client, "the demo's channel and reconciliation commands"
    assert all(f"--config {demo.CHANNEL_CONFIG}" in c["args"] for c in demo_client.values())
    assert "--config acme-config.json" in commands["serve-channel-acme"]["args"], "another client, its own file"

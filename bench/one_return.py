"""What the start-up and sync benches stand on: a fresh work folder and a Reveni sandbox
serving one return, the tap's config written for it."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.servers import ReveniSandbox


@contextmanager
def one_return(prefix: str) -> Iterator[tuple[ReveniSandbox, Path, Path]]:
    """The sandbox, the work folder and the tap's config file in it; the sandbox stops after."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    sandbox = ReveniSandbox(returns=1).start()
    try:
        tap_config = work / "tap.json"
        tap_config.write_text(json.dumps(sandbox.tap_config()))
        yield sandbox, work, tap_config
    finally:
        sandbox.stop()

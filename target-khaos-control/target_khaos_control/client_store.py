"""One store, one client: a second client's loader or channel pointed at another client's
store is refused before it reads or writes anything.

In Meltano an inherited plugin (`target-khaos-control--acme`) takes every setting its
parent has, environment variables included, unless it sets its own. A client whose
production `database_url` was forgotten would otherwise load into the first client's
store without a word. The store therefore remembers whom it belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from target_khaos_control.store import now, store_owner


class StoreOfAnotherClient(SystemExit):
    """The store belongs to another client: stop before touching it (no traceback)."""


def client_name(config: Mapping[str, Any]) -> str:
    """The client a config is for: its `client` setting, else its rule set's folder name."""
    named = str(config.get("client") or "").strip()
    if named:
        return named
    rules = str(config.get("rules_path") or "").strip().rstrip("/\\")
    return Path(rules).name if rules else ""


def claim_store(engine: Engine, client: str, where: str) -> None:
    """Make `client` the store's owner if it has none; refuse if it belongs to another.

    `where` names the store for the message (a URL with its password masked)."""
    if not client:
        return
    try:
        with engine.begin() as conn:
            owner = conn.execute(sa.select(store_owner.c.client).where(store_owner.c.id == 1)).scalar()
            if owner is None:
                conn.execute(store_owner.insert().values(id=1, client=client, claimed_at=now()))
                return
    except sa.exc.IntegrityError:  # another process claimed it at the same moment: read whose it is
        with engine.connect() as conn:
            owner = conn.execute(sa.select(store_owner.c.client).where(store_owner.c.id == 1)).scalar_one()
    if owner != client:
        raise StoreOfAnotherClient(
            f"the store {where} holds client {owner!r}'s returns; this is client {client!r}. "
            f"Give each client its own database_url (for an inherited loader, e.g. "
            f"TARGET_KHAOS_CONTROL__{client.upper().replace('-', '_')}_DATABASE_URL); nothing was written."
        )


def masked(url: str) -> str:
    """A database URL fit to show: its password hidden."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(the configured database_url)"

"""Whether a store's schema is already the latest, told without importing Alembic.

Importing Alembic and reading its scripts cost about a fifth of a second at every start of
the target and the channel, and a store is almost always up to date already. So
`open_store` reads the latest revisions from the migration files' own `revision` and
`down_revision` lines, and the store's from `alembic_version`; only when they differ, or a
file is not that simple (a merge of two heads, say), does Alembic decide and migrate.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_REVISION = re.compile(r"""^revision(?:\s*:[^=\n]*)?\s*=\s*["']([^"'\n]+)["']\s*(?:#.*)?$""", re.MULTILINE)
_DOWN_REVISION = re.compile(
    r"""^down_revision(?:\s*:[^=\n]*)?\s*=\s*(?:None|["']([^"'\n]+)["'])\s*(?:#.*)?$""", re.MULTILINE
)


def latest_revisions(versions: Path) -> set[str] | None:
    """The revisions no other migration in `versions` builds on (Alembic's heads), or None
    when a file's revision lines are not plain strings, for Alembic to read instead."""
    revisions, parents = set(), set()
    for script in versions.glob("*.py"):
        text = script.read_text(encoding="utf-8")
        revision, down = _REVISION.findall(text), _DOWN_REVISION.search(text)
        if len(revision) != 1 or down is None:
            return None
        revisions.add(revision[0])
        if down[1]:
            parents.add(down[1])
    return (revisions - parents) or None


def stored_revisions(connection: Connection) -> set[str]:
    """The revisions the store's schema is at (none for a new store), as Alembic records them."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return set()
    return {str(row[0]) for row in connection.execute(sa.text("SELECT version_num FROM alembic_version"))}

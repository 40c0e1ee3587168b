"""The Reveni sandbox's returns, indexed by `(updated_at, id)` as the list endpoint sorts."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from typing import Any

from reveni_khaos_sandbox.reveni_data import ReturnGenerator, iso

SortKey = tuple[datetime, str]


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 timestamp; a naive one is taken as UTC."""
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class ReturnStore:
    """Generated returns stay virtual (an index into the generator); loaded or changed
    ones are kept whole. Either way a page costs only the returns it holds."""

    def __init__(self, generator: ReturnGenerator | None = None) -> None:
        self._generator = generator
        self._keys: list[SortKey] = []
        self._key_by_id: dict[str, SortKey] = {}
        self._source: dict[str, int | dict[str, Any]] = {}
        if generator is not None:
            for i in range(generator.count):
                ident = generator.identity(i)
                self._index(ident.id, ident.updated_at, i)
            self._keys.sort()

    def __len__(self) -> int:
        return len(self._keys)

    def load(self, returns: list[dict[str, Any]]) -> None:
        """Replace every return with the given ones (each needs `id` and `updated_at`).

        All or nothing: a bad entry raises ValueError naming it and changes nothing."""
        keys: dict[str, SortKey] = {}
        for position, item in enumerate(returns):
            try:
                return_id, updated_at = str(item["id"]), parse_timestamp(item["updated_at"])
            except (KeyError, TypeError, ValueError) as error:
                msg = f"return #{position}: needs an `id` and an ISO 8601 `updated_at` ({error})"
                raise ValueError(msg) from error
            if return_id in keys:
                msg = f"return #{position}: id {return_id!r} appears twice"
                raise ValueError(msg)
            keys[return_id] = (updated_at, return_id)
        self._generator = None
        self._key_by_id = keys
        self._keys = sorted(keys.values())
        self._source = {item["id"]: item for item in returns}

    def get(self, return_id: str) -> dict[str, Any] | None:
        source = self._source.get(return_id)
        if isinstance(source, int):
            assert self._generator is not None
            return self._generator.build(source)
        return source

    def page(self, updated_after: datetime | None, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """The `count` of matching returns and the slice `[offset, offset + limit)`."""
        start = bisect.bisect_left(self._keys, (updated_after, "")) if updated_after else 0
        window = self._keys[start + offset : start + offset + limit]
        page = [self.get(return_id) for _, return_id in window]
        return len(self._keys) - start, [item for item in page if item is not None]

    def save(self, changed: dict[str, Any]) -> None:
        """Store a changed return whole, re-sorted under its (new) `updated_at`."""
        old_key = self._key_by_id.pop(changed["id"], None)
        if old_key is not None:
            self._keys.pop(bisect.bisect_left(self._keys, old_key))
        key = (parse_timestamp(changed["updated_at"]), changed["id"])
        bisect.insort(self._keys, key)
        self._key_by_id[changed["id"]] = key
        self._source[changed["id"]] = changed

    def next_timestamp(self) -> str:
        """Now, but never earlier than the newest return: a change always sorts last."""
        now = datetime.now(UTC).replace(microsecond=0)
        newest = self._keys[-1][0] + timedelta(seconds=1) if self._keys else now
        return iso(max(now, newest))

    def _index(self, return_id: str, updated_at: datetime, source: int | dict[str, Any]) -> None:
        key = (updated_at, return_id)
        self._keys.append(key)
        self._key_by_id[return_id] = key
        self._source[return_id] = source

"""Document states and their transitions, in one place: what Khaos has pulled never
becomes open again; what it has not may be held, published or withdrawn."""

from __future__ import annotations

import pytest
from target_khaos_control.states import (
    HELD,
    PUBLISHED,
    RE_REQUESTED,
    SENT,
    SERVED,
    SUPERSEDED,
    UNSENT,
    DocumentState,
    StateError,
    check,
    may_become,
)


@pytest.mark.parametrize("sent", sorted(SENT))
@pytest.mark.parametrize("reopened", sorted(UNSENT | {SUPERSEDED}))
def test_a_document_khaos_has_pulled_never_becomes_open_again(sent: DocumentState, reopened: DocumentState) -> None:
    with pytest.raises(StateError, match=f"a document that is {sent} never becomes {reopened}"):
        check(sent, reopened)


def test_what_khaos_has_not_pulled_may_be_held_published_or_withdrawn() -> None:
    assert check("held", PUBLISHED) == PUBLISHED
    assert check("published", HELD) == HELD
    assert check("published", SUPERSEDED) == SUPERSEDED


def test_the_feed_moves_documents_only_along_the_rules() -> None:
    assert may_become(SERVED) == {PUBLISHED, SERVED}
    assert may_become(RE_REQUESTED) == {PUBLISHED, SERVED, RE_REQUESTED}
    assert HELD not in may_become(SERVED), "a held document is never handed to Khaos"

"""The returns answers' bytes, whatever form the store hands a page's bodies over in (its
UTF-8 bytes, `feed_statements._StoredBody`): each is the stored text, encoded
as UTF-8, exactly, in every form and on every path of a pull (a page read by its pull, one
read ahead, SpecificIDs), with text past ASCII and past Latin-1, escaped quotes and
backslashes."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from target_khaos_control.batch_writes import insert_documents
from target_khaos_control.channel import khaos_xml
from target_khaos_control.channel.app import API_VERSION, source_reference
from target_khaos_control.khaos_documents import CustomerReturnImport, ImportConfig, decode, encode
from target_khaos_control.settings import SOURCE_REFERENCE_FORMS
from target_khaos_control.store import open_store

from tests.in_process import InProcessChannel
from tests.khaos_docs import feed_row
from tests.servers import PostgresServer, target_config

FIRST_CONTACT = "2019-12-31T12:00:00"
# Each kind of text a body's JSON carries: Latin-1 (é, Ñ), past it (Ł, 山田, €), an escaped
# quote and backslash (which a text-to-bytea cast would read as an escape), a \u escape.
NAMES = ("José Núñez", "Łukasz Wójcik", "花子 山田", 'Dylan "Dyl" O\'Connor', "C:\\Returns\\€ 9,99")


def _body(n: int) -> str:
    forename, _, surname = NAMES[n - 1].partition(" ")
    return json.dumps(
        {
            "AssociatedRef": f"RV-{n}",
            "InvoiceContact": {"Forename": forename, "Surname": surname},
            "Notes": f"{NAMES[n - 1]} \u2028 return {n}",
            "ReturnedItems": [{"SKU": f"SKU-{n}", "SourceReference": {"SourceOrder": {"AssociatedRef": f"SO-{n}"}}}],
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _channel(store_url: str, tmp_path: Path, form: str) -> InProcessChannel:
    """Five published documents with those bodies, served two a pull in `form`."""
    engine = open_store(store_url)
    with engine.begin() as conn:
        insert_documents(conn, [{**feed_row(n), "body": _body(n)} for n in range(1, 6)])
    engine.dispose()
    config = target_config(
        tmp_path,
        database_url=store_url,
        batch_size=2,
        source_reference_form=form,
        match_address_on=["Postcode"],
        match_contact_on=["Email"],
    )
    return InProcessChannel(config, tmp_path).start()


def _expected(refs: list[int], fmt: str, form: str, config: dict[str, Any]) -> bytes:
    """The answer as it was made from the stored text: each body spliced in (or, in another
    form, re-encoded), the whole encoded once; the XML from each body read as text."""
    if fmt == "XML":
        returns = [source_reference(decode(_body(n)), form) for n in refs]
        document = {"Returns": returns, "ApiVersion": API_VERSION, "Config": config}
        return khaos_xml.render("CustomerReturnImport", document, CustomerReturnImport)
    bodies = [
        _body(n) if form == SOURCE_REFERENCE_FORMS[0] else encode(source_reference(decode(_body(n)), form))
        for n in refs
    ]
    tail = json.dumps({"ApiVersion": API_VERSION, "Config": config})[1:]
    return "".join(('{"Returns":[', ",".join(bodies), "],", tail)).encode()


@pytest.mark.parametrize("form", SOURCE_REFERENCE_FORMS)
@pytest.mark.parametrize("fmt", ["JSON", "XML"])
def test_every_answer_is_the_stored_text_as_utf_8_byte_for_byte(
    store_url: str, tmp_path: Path, fmt: str, form: str
) -> None:
    # given five documents whose bodies carry text past ASCII and past Latin-1, escaped
    # quotes and backslashes, served two a pull
    channel = _channel(store_url, tmp_path, form)
    path = f"/khaos/returns.{fmt.lower()}"
    config = msgspec.to_builtins(ImportConfig(MatchAddressOn=["Postcode"], MatchContactOn=["Email"]))
    try:
        # when Khaos drains the feed (the second and third pulls answered from pages read
        # ahead), then asks again for RV-4 and RV-2 by SpecificIDs
        answers, continuation = [], FIRST_CONTACT
        for _ in range(3):
            answer = channel.get(path, headers={"Sirion-Continuation": continuation})
            answers.append(answer.content)
            continuation = answer.headers["Sirion-Continuation"]
        again = channel.get(path, headers={"Sirion-Continuation": continuation, "SpecificIDs": '"RV-4,RV-2"'})
    finally:
        channel.stop()

    # expect every answer's bytes to be those made from the stored text
    assert answers == [_expected(refs, fmt, form, config) for refs in ([1, 2], [3, 4], [5])]
    assert again.content == _expected([4, 2], fmt, form, config)


def test_a_statement_marked_binary_results_is_read_in_psycopg_s_binary_format(postgres: PostgresServer) -> None:
    # given a Postgres store
    engine = open_store(postgres.new_database())
    point = sa.text("SELECT '(1,2)'::point")  # a type psycopg loads in neither format: read as sent
    try:
        # when the same statement is run as it is and marked `binary_results`
        with engine.connect() as conn:
            as_text = conn.execute(point).scalar_one()
            as_binary = conn.execute(point.execution_options(binary_results=True)).scalar_one()
    finally:
        engine.dispose()
    # expect the text format's value as text, the binary format's as its bytes (two float8)
    assert as_text == "(1,2)"
    assert as_binary == struct.pack("!dd", 1.0, 2.0)

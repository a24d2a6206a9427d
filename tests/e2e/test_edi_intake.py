"""A customer's X12 850 through the hub's intake: it becomes an order, a resent file is a duplicate, a refused file
is kept failed with the rule named, the interchange is recorded as accepted; `crossdock edi parse` on the samples."""

from __future__ import annotations

from typing import Any

import httpx
from typer.testing import CliRunner

from crossdock.entrypoints.cli import app
from tests.conftest import SAMPLES
from tests.e2e.conftest import EstateFactory

XYZ_850 = SAMPLES / "x12-850" / "nodex12_850_xyzretail_4010vics_tilde-lf.edi"
BAD_850 = SAMPLES / "x12-bad" / "ediengine_850_syntax-note-violations.edi"
EDI: dict[str, Any] = {
    "partners": {
        "xyz": {
            "role": "customer",
            "id": "4405197800",
            "qualifier": "12",
            "our_id": "999999999",
            "customer": "C-100",
            "item_ids": [{"qualifier": "VN"}],
        }
    },
    "sources": {"edi-xyz": {"kind": "edi", "partner": "xyz"}},
    "reference": {"customers": [{"number": "C-100", "currency": "USD", "credit_limit": "100000"}]},
}


def post_file(client: Any, body: bytes) -> httpx.Response:
    response: httpx.Response = client.post(
        "/v1/inbound/edi-xyz", content=body, headers={"content-type": "application/edi-x12"}
    )
    return response


def test_a_customer_850_becomes_an_order_once_and_its_interchange_is_accepted(make_estate: EstateFactory) -> None:
    estate = make_estate(**EDI)

    first = post_file(estate.client, XYZ_850.read_bytes())
    again = post_file(estate.client, XYZ_850.read_bytes())
    estate.drain()

    assert first.status_code == 202, first.text
    assert again.json()["duplicate"] is True
    assert again.json()["message_id"] == first.json()["message_id"]
    assert estate.client.get("/v1/orders/08292233294").status_code == 200
    message = estate.client.get(f"/v1/messages/{first.json()['message_id']}").json()
    assert message["status"] == "processed"
    with estate.hub.begin() as uow:
        logged = [stored.envelope for stored in uow.log.for_message(first.json()["message_id"])]
    received = [e for e in logged if e.type == "crossdock.edi.interchange_received.v1"]
    assert [e.data["status"] for e in received] == ["accepted"]
    assert received[0].data["groups"][0]["control_number"] == "1421"


def test_a_refused_file_is_kept_failed_with_the_rule_and_the_place(make_estate: EstateFactory) -> None:
    estate = make_estate(**EDI)

    response = post_file(estate.client, BAD_850.read_bytes())
    estate.drain()

    message = estate.client.get(f"/v1/messages/{response.json()['message_id']}").json()
    assert message["status"] == "failed"
    assert "syntax-note" in message["error"]
    assert "interchange 000003438, group 1421, transaction 850 000000010, segment 13 PO1" in message["error"]


def test_edi_parse_prints_the_documents_of_a_good_file_and_names_the_rule_of_a_bad_one() -> None:
    runner = CliRunner()

    good = runner.invoke(app, ["edi", "parse", str(SAMPLES / "x12-850" / "x12types_850_buysnacks_4010.edi"), "--json"])
    bad = runner.invoke(app, ["edi", "parse", str(BAD_850)])

    assert good.exit_code == 0, good.output
    assert '"crossdock.order.received.v1"' in good.output and "A99999-01" in good.output
    assert bad.exit_code == 1
    assert "syntax-note" in bad.output
    assert "segment 13 PO1, element PO107" in bad.output

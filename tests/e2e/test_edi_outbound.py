"""EDI out through the whole hub: a customer's 850 posted to the intake is answered by a 997 in that customer's
outbound folder, accepting the group it came in; a supplier's destination on the same hub writes nothing for it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from crossdock.connectors import x12
from crossdock.entrypoints.worker import Worker
from crossdock.observability.metrics import Metrics
from tests.conftest import SAMPLES
from tests.e2e.conftest import EstateFactory
from tests.e2e.test_edi_intake import post_file

XYZ_850 = SAMPLES / "x12-850" / "nodex12_850_xyzretail_4010vics_tilde-lf.edi"
INTERCHANGE_RECEIVED = "crossdock.edi.interchange_received.v1"
EDI_OUT: dict[str, Any] = {
    "partners": {
        "xyz": {
            "role": "customer",
            "id": "4405197800",
            "qualifier": "12",
            "our_id": "999999999",
            "customer": "C-100",
            "item_ids": [{"qualifier": "VN"}],
            "transport": {"path": "partners/xyz"},
        },
        "acme": {
            "role": "supplier",
            "id": "ACME",
            "our_id": "999999999",
            "supplier": "S-ACME",
            "transport": {"path": "partners/acme"},
        },
    },
    "sources": {"edi-xyz": {"kind": "edi", "partner": "xyz"}},
    "destinations": {
        "edi-xyz-out": {"kind": "edi", "partner": "xyz"},
        "edi-acme-out": {"kind": "edi", "partner": "acme"},
    },
    "subscriptions": [
        {"destination": "edi-xyz-out", "events": [INTERCHANGE_RECEIVED]},
        {"destination": "edi-acme-out", "events": [INTERCHANGE_RECEIVED, "crossdock.purchaseorder.released.v1"]},
    ],
    "reference": {"customers": [{"number": "C-100", "currency": "USD", "credit_limit": "100000"}]},
}


def outbound(root: Path) -> list[Path]:
    folder = root / "outbound"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_a_customers_850_is_answered_by_a_997_in_its_outbound_folder_accepting_the_group(
    make_estate: EstateFactory, tmp_path: Path
) -> None:
    estate = make_estate(**EDI_OUT)

    response = post_file(estate.client, XYZ_850.read_bytes())
    estate.drain()

    assert response.status_code == 202, response.text
    [written] = outbound(tmp_path / "partners" / "xyz")
    interchanges = x12.parse(written.read_bytes())
    [ack] = x12.read_acknowledgements(interchanges)
    assert written.name.startswith("997-") and written.suffix == ".edi"
    assert (interchanges[0].sender_id, interchanges[0].receiver_id) == ("999999999", "4405197800")
    assert (ack.functional_id, ack.group_control_number, ack.status) == ("PO", "1421", "A")
    assert [(t.set_id, t.control_number, t.status) for t in ack.transactions] == [("850", "000000010", "A")]
    assert outbound(tmp_path / "partners" / "acme") == []
    # The supplier's destination took the customer's interchange too (same subscription) and wrote nothing for it.
    edi = sorted((d["destination"], d["status"]) for d in estate.all_deliveries() if d["destination"].startswith("edi"))
    assert edi == [("edi-acme-out", "delivered"), ("edi-xyz-out", "delivered")]


def test_a_file_dropped_in_a_partners_inbound_folder_is_read_by_the_worker_archived_and_answered(
    make_estate: EstateFactory, tmp_path: Path
) -> None:
    estate = make_estate(**EDI_OUT)
    partner = tmp_path / "partners" / "xyz"
    [poller] = estate.runtime.pollers
    assert poller.source == "edi-xyz", "only partners with an edi source and a transport are polled"
    (partner / "inbound").mkdir(parents=True, exist_ok=True)
    (partner / "inbound" / "po-08292233294.edi").write_bytes(XYZ_850.read_bytes())

    worker = Worker(estate.hub, Metrics(), idle_sleep=0.01, pollers=estate.runtime.pollers, poll_every=0.1)
    worker.start()
    try:
        # The file is read once its size and time have settled (2 s), then answered by a 997.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not outbound(partner):
            time.sleep(0.1)
    finally:
        worker.stop()

    [archived] = (partner / "archive").iterdir()
    assert archived.name.endswith("_po-08292233294.edi"), "archived under its name, stamped with the time"
    assert list((partner / "inbound").iterdir()) == [], "an archived file is no longer in inbound"
    [written] = outbound(partner)
    [ack] = x12.read_acknowledgements(x12.parse(written.read_bytes()))
    assert ack.status == "A"
    assert estate.client.get("/v1/orders/08292233294").status_code == 200, "the dropped 850 became an order"

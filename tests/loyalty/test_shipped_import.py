"""`mallcast import purchases` as shipped, beside a cold `mallcast serve --demo`: the history
lands, a second run and the tills' API store nothing twice, a bad file stores nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.shipped import Server, run

pytestmark = pytest.mark.slow


@pytest.fixture
def server(home: Path) -> Iterator[Server]:
    shipped = Server(home, "--demo", dispatcher="false", scheduler="false").start()
    yield shipped
    if shipped.alive():
        shipped.stop()


def test_history_from_csv_then_the_till_sends_the_same_receipt(
    home: Path, server: Server, tmp_path: Path
) -> None:
    key = (home / "operator.key").read_text().strip()
    tenants = server.call("GET", "/v1/malls/1/tenants", key=key, expect=200).json()
    starbucks = next(t["id"] for t in tenants if t["name"] == "STARBUCKS COFFEE")
    rows = [f"T-{i},M-{i % 4},{starbucks},2026-11-{10 + i % 9:02d}T18:30:00+08:00,{20 + i}.50,"
            f"CNY,{1 + i % 3}" for i in range(40)]  # fmt: skip
    history = tmp_path / "history.csv"
    history.write_text("txn_id,member_id,store,at,amount,currency,items\n" + "\n".join(rows))

    first = run(home, "import", "purchases", str(history), "--mall", "1")
    assert first.returncode == 0, first.stderr
    assert re.search(r"40 receipts read: 40 stored, 0 stored before; 4 new members", first.stderr)
    again = run(home, "import", "purchases", str(history), "--mall", "1")
    assert "40 receipts read: 0 stored, 40 stored before" in again.stderr, again.stderr

    shop = run(home, "keys", "create", "--role", "tenant", "--tenant", str(starbucks))
    till = server.call("POST", "/v1/tenant/purchases", key=shop.stdout.strip(), expect=200, json={
        "purchases": [{"txn_id": "T-3", "member_id": "M-3", "at": "2026-11-13T18:30:00+08:00",
                       "amount": "23.50", "currency": "CNY", "items": 1}]}).json()  # fmt: skip
    assert till == {"received": 1, "stored": 0, "duplicates": 1, "refunds": 0}

    # Returns come later, in a file of their own; one names a sale the till sent.
    returns = tmp_path / "returns.csv"
    returns.write_text(
        "txn_id,member_id,store,at,amount,currency,items,refund_of\n"
        f"R-1,M-1,{starbucks},2026-11-20T12:00:00+08:00,21.50,CNY,1,T-1\n"
        f"R-3,M-3,{starbucks},2026-11-20T12:00:00+08:00,5.00,CNY,1,T-3\n"
    )
    taken = run(home, "import", "purchases", str(returns), "--mall", "1")
    assert "2 receipts read: 2 stored (2 of them returns), 0 stored before" in taken.stderr, (
        taken.stderr)  # fmt: skip
    more = tmp_path / "more.csv"
    more.write_text("txn_id,member_id,store,at,amount,currency,items,refund_of\n"
                    f"R-9,M-1,{starbucks},2026-11-21T12:00:00+08:00,0.01,CNY,1,T-1\n")  # fmt: skip
    over = run(home, "import", "purchases", str(more), "--mall", "1")
    assert over.returncode == 1
    assert "line 2: the returns on T-1 would give back 21.51 of its 21.50" in over.stderr

    broken = tmp_path / "broken.csv"
    broken.write_text(history.read_text() + "\nT-41,M-1,1,yesterday,1,CNY,1")
    refused = run(home, "import", "purchases", str(broken), "--mall", "1")
    assert refused.returncode == 1
    assert "line 42" in refused.stderr

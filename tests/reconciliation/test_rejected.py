"""A file that fails any check changes nothing: property-tested over many broken files."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.errors import ValidationFailed
from reconciliation.parsers import format_fen
from reconciliation.service import import_bank_file
from reconciliation.simulate import write_csv_return, write_pain002
from tests.reconciliation.batches import Batch, released_batch
from tests.reconciliation.conftest import SAMPLES


def snapshot(session: Session) -> dict[str, Any]:
    session.rollback()
    q = session.execute
    return {
        "entries": q(text("SELECT count(*), max(hash) FROM journal_entry")).one(),
        "balances": q(text("SELECT id, balance_fen FROM account ORDER BY id")).all(),
        "payouts": q(
            text("SELECT id, state, last_entry_id, reason_code FROM payout ORDER BY id")
        ).all(),
        "events": q(text("SELECT count(*) FROM payout_event")).scalar_one(),
        "files": q(text("SELECT count(*) FROM bank_file")).scalar_one(),
        "queue": q(text("SELECT count(*) FROM recon_exception")).scalar_one(),
    }


def broken_files(batch: Batch) -> st.SearchStrategy[bytes]:
    lines = batch.sim({2: "账号不存在"})
    good_csv = write_csv_return(lines, trailer=False)
    total = batch.total_fen

    def trailer(count: int, fen: int) -> bytes:
        return f'合计,{count}笔,"{format_fen(fen)}"\r\n'.encode("gbk")

    wrong_count = (
        st.integers(0, 50)
        .filter(lambda c: c != len(lines))
        .map(lambda c: good_csv + trailer(c, total))
    )
    wrong_total = (
        st.integers(-total + 1, 10**6)
        .filter(lambda d: d != 0)
        .map(lambda d: good_csv + trailer(len(lines), total + d))
    )
    pain = write_pain002("MSG", lines)
    truncated = st.integers(10, len(pain) - 30).map(lambda cut: pain[:cut])
    extra = batch.sim() + batch.sim()[:1]
    too_many = st.just(write_csv_return(extra, title="多出一行"))
    return st.one_of(wrong_count, wrong_total, truncated, too_many)


def test_rejected_file_changes_nothing(session: Session) -> None:
    batch = released_batch(session, n=6)
    before = snapshot(session)

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        file = data.draw(broken_files(batch))
        with pytest.raises(ValidationFailed) as err:
            import_bank_file(session, data=file, uploaded_by="bank-user", bank_code="ICBCGD")
        assert err.value.details and err.value.details[0]["reason"]
        assert snapshot(session) == before

    check()


def test_non_cny_file_is_a_clear_422(session: Session) -> None:
    released_batch(session, n=2)
    data = (SAMPLES / "camt.054" / "postfinance_camt.054.001.04_return-RRTN-AC01.xml").read_bytes()
    before = snapshot(session)
    with pytest.raises(ValidationFailed, match="CNY") as err:
        import_bank_file(session, data=data, uploaded_by="u", bank_code="ICBCGD")
    assert err.value.details[0]["field"] == "Ccy"
    assert snapshot(session) == before

"""Complaints: deadlines in working days, the write path, the overdue finding, and the public
submission's bounds (size, rate per address) and status by reference."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.complaints import service
from ledger.config import get_settings
from reports import findings
from reports.findings import Thresholds
from reports.scope import Scope
from tests.factories import make_user

T = Thresholds(idle_months=3, idle_min_fen=100, transfer_days=30, reissue_days=30,
               review_months=6, evidence_limit=50)  # fmt: skip


@pytest.mark.parametrize(
    ("received", "days", "deadline"),
    [
        (date(2024, 6, 7), 1, date(2024, 6, 10)),  # a Friday: the next working day is Monday
        (date(2024, 6, 8), 1, date(2024, 6, 10)),  # a Saturday
        (date(2024, 6, 3), 5, date(2024, 6, 10)),  # Monday + 5 working days: next Monday
        (date(2024, 6, 3), 15, date(2024, 6, 24)),  # three working weeks
    ],
)
def test_deadlines_skip_weekends(received: date, days: int, deadline: date) -> None:
    assert service.add_working_days(received, days, set()) == deadline


def test_deadlines_skip_holidays(session: Session) -> None:
    session.execute(text("INSERT INTO holiday VALUES ('2024-06-10', '端午节')"))
    assert service.deadline_for(session, date(2024, 6, 7), 1) == date(2024, 6, 11)
    assert service.deadline_for(session, date(2024, 6, 3)) == date(2024, 6, 25)  # default 15


@given(start=st.dates(date(2000, 1, 1), date(2099, 1, 1)), days=st.integers(1, 60))
def test_a_deadline_is_a_working_day_with_exactly_n_working_days_after_receipt(
    start: date, days: int
) -> None:
    end = service.add_working_days(start, days, set())
    assert end.weekday() < 5
    span = [start + timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(1 for d in span if d.weekday() < 5) == days


def _complaint(client: Any, user: Any, **kw: Any) -> Any:
    body = {"channel": "hotline", "received_on": "2024-06-03", "jurisdiction": "440103",
            "concerns": "jurisdiction", "content": "反映某户有车仍领低保", **kw}  # fmt: skip
    return client.post("/complaints", headers=user.write(), json=body)


def test_made_and_closed_through_the_write_path_and_overdue_is_a_finding(
    client: Any, session: Session
) -> None:
    civil = make_user(session, "civil_affairs", "440103")
    on_time = _complaint(client, civil)
    late = _complaint(client, civil, channel="letter", concerns="household", household_id="H9")
    person = _complaint(client, civil, concerns="person", id_number="440103198001011234")
    assert {r.status_code for r in (on_time, late, person)} == {201}
    assert on_time.json()["deadline"] == "2024-06-24"
    assert "440103198001011234" not in person.text and person.json()["person_key"]
    assert _complaint(client, civil, concerns="person").status_code == 422  # names no one
    assert _complaint(client, make_user(session, "auditor", "440103")).status_code == 403
    assert _complaint(client, civil, jurisdiction="440104").status_code == 403

    closed = client.post(
        f"/complaints/{on_time.json()['id']}/closure",
        headers=civil.write(),
        json={"outcome": "经核实不属实", "closed_on": "2024-06-20"},
    )
    assert closed.status_code == 200 and closed.json()["closed_by"] == civil.username
    again = client.post(
        f"/complaints/{on_time.json()['id']}/closure",
        headers=civil.write(),
        json={"outcome": "再次办结", "closed_on": "2024-06-21"},
    )
    assert again.status_code == 409
    client.post(
        f"/complaints/{late.json()['id']}/closure",
        headers=civil.write(),
        json={"outcome": "经入户核实属实，已停发", "closed_on": "2024-06-28"},
    )
    found = findings.complaint_overdue(session, Scope("440103", "202406"), T)
    (f,) = found
    assert f.evidence["count"] == 2 and f.evidence["still_open"] == 1  # late, and the open one
    assert on_time.json()["reference"] not in f.evidence["complaint_references"]
    # before the deadlines passed, nothing is overdue
    assert findings.complaint_overdue(session, Scope("440103", "202405"), T) == []
    listed = client.get(
        "/jurisdictions/440100/complaints", headers=make_user(session, "auditor", "440100").headers
    )
    assert listed.status_code == 200 and len(listed.json()) == 3


def test_the_public_submission_is_bounded_and_followed_by_reference(
    client: Any, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_PUBLIC_COMPLAINTS_PER_HOUR", "2")
    get_settings.cache_clear()
    body = {"jurisdiction": "440103", "content": "某村有人冒领低保，请核查"}
    first = client.post("/public/complaints", json=body)
    assert first.status_code == 201, first.text
    reference = first.json()["reference"]
    assert first.json()["status"] == "open"
    assert (
        client.post("/public/complaints", json={**body, "content": "x" * 2001}).status_code == 422
    )
    assert client.post("/public/complaints", json=body).status_code == 201
    limited = client.post("/public/complaints", json=body)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "too_many_requests"
    assert session.execute(text("SELECT count(*) FROM complaint")).scalar_one() == 2

    status = client.get(f"/public/complaints/{reference}")
    assert status.status_code == 200
    assert set(status.json()) == {"reference", "received_on", "deadline", "status", "closed_on"}
    assert "冒领" not in status.text  # the content is not shown back
    assert client.get("/public/complaints/TS2222222222").status_code == 404
    get_settings.cache_clear()

"""Downloads, findings and the report register through the HTTP API, with the access rules."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from tests.factories import make_user
from tests.reports.books import allocate
from tests.reports.worked_month import URBAN, worked_month

AUDIT = {"jurisdiction": "440103", "period": "202406"}
DISCLOSURE = {**AUDIT, "fund": URBAN}


def test_disclosure_download_to_any_role_in_scope(session: Session, client: Any) -> None:
    worked_month(session)
    civil = make_user(session, "civil_affairs", "440103")
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    outsider = make_user(session, "finance", "440104")
    reply = client.get("/reports/disclosure", params=DISCLOSURE, headers=civil.headers)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/pdf"
    assert reply.content.startswith(b"%PDF")
    assert reply.headers["x-report-sha256"] == hashlib.sha256(reply.content).hexdigest()
    again = client.get("/reports/disclosure", params=DISCLOSURE, headers=bank.headers)
    assert again.content == reply.content
    refused = client.get("/reports/disclosure", params=DISCLOSURE, headers=outsider.headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["details"][0]["field"] == "jurisdiction"
    assert client.get("/reports/disclosure", params=DISCLOSURE).status_code == 401
    unknown = client.get(
        "/reports/disclosure", params={**DISCLOSURE, "fund": "nope"}, headers=civil.headers
    )
    assert unknown.status_code == 404


def test_audit_download_to_its_bureaus_and_ancestor_auditors(session: Session, client: Any) -> None:
    worked_month(session)
    allowed = [
        make_user(session, "auditor", "440100"),
        make_user(session, "auditor", "440000"),
        make_user(session, "finance", "440103"),
        make_user(session, "civil_affairs", "440103"),
    ]
    refused = [
        make_user(session, "finance", "440100"),  # a city's finance bureau is not an auditor
        make_user(session, "civil_affairs", "440104"),
        make_user(session, "auditor", "440200"),
        make_user(session, "bank", "440000", bank="ICBCGD"),
    ]
    bodies = set()
    for user in allowed:
        reply = client.get("/reports/audit", params=AUDIT, headers=user.headers)
        assert reply.status_code == 200, (user.role, user.jurisdiction, reply.text)
        bodies.add(reply.content)
    assert len(bodies) == 1  # the same books, the same bytes, whoever asks
    for user in refused:
        reply = client.get("/reports/audit", params=AUDIT, headers=user.headers)
        assert reply.status_code == 403, (user.role, user.jurisdiction)
    bad = client.get(
        "/reports/audit", params={**AUDIT, "period": "202413"}, headers=allowed[0].headers
    )
    assert bad.status_code == 422

    sha = hashlib.sha256(bodies.pop()).hexdigest()
    records = client.get(
        "/reports/records",
        params={"jurisdiction": "440100", "sha256": sha},
        headers=allowed[0].headers,
    ).json()
    assert len(records) == 4
    assert {r["generated_by"] for r in records} == {u.username for u in allowed}
    assert all(r["kind"] == "audit" and r["jurisdiction"] == "440103" for r in records)


def test_findings_listed_exported_and_run(session: Session, client: Any) -> None:
    worked_month(session)
    auditor = make_user(session, "auditor", "440000")
    params = {"period": "202409"}
    # The books end in June: September is judged as of that day, and nothing is late yet.
    early = client.get("/jurisdictions/440000/findings", params=params, headers=auditor.headers)
    assert early.json()["as_of"] == "2024-06-19" and early.json()["findings"] == []
    allocate(session, "440000", URBAN, 1_00, date(2024, 9, 30))  # the books reach September
    listed = client.get("/jurisdictions/440000/findings", params=params, headers=auditor.headers)
    assert listed.status_code == 200, listed.text
    rules = {(f["rule"], f["jurisdiction"]) for f in listed.json()["findings"]}
    assert ("failed_not_reissued", "440103") in rules
    assert ("transfer_not_paid_out", "440100") in rules

    csv_reply = client.get(
        "/jurisdictions/440000/findings.csv", params=params, headers=auditor.headers
    )
    assert csv_reply.status_code == 200
    assert csv_reply.content.startswith(b"\xef\xbb\xbf")
    assert csv_reply.content.decode("utf-8-sig").count("\r\n") == len(rules) + 1

    headers = auditor.write("run-1")
    run = client.post("/jurisdictions/440000/findings/runs", json=params, headers=headers)
    assert run.status_code == 201, run.text
    replay = client.post("/jurisdictions/440000/findings/runs", json=params, headers=headers)
    assert replay.json() == run.json()
    other = client.post(
        "/jurisdictions/440000/findings/runs", json={"period": "202408"}, headers=headers
    )
    assert other.status_code == 409
    stored = client.get(
        "/jurisdictions/440000/findings",
        params={**params, "run_id": run.json()["run_id"]},
        headers=auditor.headers,
    ).json()
    assert len(stored["findings"]) == run.json()["finding_count"]
    civil = make_user(session, "civil_affairs", "440103")
    assert (
        client.get("/jurisdictions/440000/findings", params=params, headers=civil.headers)
    ).status_code == 403

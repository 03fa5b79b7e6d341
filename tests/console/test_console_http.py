"""The console's guards over HTTP: login, CSRF on every form, session expiry, a bank kept to its
own batches, and a double-submitted form replaying its first answer."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.console.helpers import PASSWORD, hidden, login, other_bank_user, with_password
from tests.roster import helpers as r


def _built(client: Any, session: Session) -> tuple[r.County, int]:
    c = r.county(session)
    assert r.upload(client, c, r.csv_of(r.rows(c.code, 2))).status_code == 201
    return c, r.build(client, c).json()["id"]


def test_login_sets_a_strict_httponly_cookie_and_a_wrong_password_is_refused(
    app: Any, session: Session
) -> None:
    c, _ = _built(TestClient(app), session)
    with_password(session, c.maker)
    browser = TestClient(app)
    page = browser.get("/login")
    wrong = browser.post(
        "/login",
        data={
            "username": c.maker.username,
            "password": "nope",
            "csrf_token": hidden(page.text, "csrf_token"),
        },
    )
    assert wrong.status_code == 401 and "用户名或密码不正确" in wrong.text
    cookie = login(browser, c.maker).headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert browser.get("/console/batches").status_code == 200
    assert (
        session.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'console_login' AND username = :u"),
            {"u": c.maker.username},
        ).scalar_one()
        == 1
    )


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    app: Any, session: Session
) -> None:
    c, batch_id = _built(TestClient(app), session)
    with_password(session, c.checker)
    browser = TestClient(app)
    login(browser, c.checker)
    page = browser.get(f"/console/batches/{batch_id}")
    for token in (None, "forged-token-forged-token-forged-token"):
        data = {"form_key": hidden(page.text, "form_key")}
        if token:
            data["csrf_token"] = token
        refused = browser.post(f"/console/batches/{batch_id}/release", data=data)
        assert refused.status_code == 403 and "CSRF" in refused.text
    status = session.execute(
        text("SELECT status FROM payment_batch WHERE id = :b"), {"b": batch_id}
    ).scalar_one()
    assert status == "draft"
    assert (
        session.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE outcome = 'refused' AND username = :u "
                "AND action = 'release'"
            ),
            {"u": c.checker.username},
        ).scalar_one()
        == 2
    )


def test_an_expired_session_goes_back_to_the_login_page(app: Any, session: Session) -> None:
    c, _ = _built(TestClient(app), session)
    with_password(session, c.maker)
    browser = TestClient(app)
    login(browser, c.maker)
    assert browser.get("/console/batches").status_code == 200
    session.execute(
        text(
            "UPDATE web_session SET created_at = created_at - interval '9 hours', "
            "expires_at = created_at - interval '1 hour'"
        )
    )
    session.commit()
    gone = browser.get("/console/batches", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    assert "过期" in browser.get(gone.headers["location"]).text


def test_a_bank_cannot_reach_another_banks_batch(app: Any, session: Session) -> None:
    client = TestClient(app)
    c, batch_id = _built(client, session)
    assert r.release(client, c, batch_id).status_code == 200
    teller = with_password(session, other_bank_user(session))
    browser = TestClient(app)
    login(browser, teller)
    for path in (
        f"/console/batches/{batch_id}",
        f"/console/batches/{batch_id}/instructions.csv",
    ):
        refused = browser.get(path)
        assert refused.status_code == 403, path
        assert "another bank" in refused.text or "不" in refused.text
    assert f"批次 {batch_id}" not in browser.get("/console/batches").text
    own = TestClient(app)
    login(own, with_password(session, c.bank))
    assert own.get(f"/console/batches/{batch_id}").status_code == 200


def test_a_double_submitted_release_replays(app: Any, session: Session) -> None:
    c, batch_id = _built(TestClient(app), session)
    with_password(session, c.checker)
    browser = TestClient(app)
    login(browser, c.checker)
    page = browser.get(f"/console/batches/{batch_id}").text
    form = {
        "csrf_token": hidden(page, "csrf_token"),
        "form_key": hidden(page, "form_key") + "-release",
    }
    for _ in range(2):
        done = browser.post(
            f"/console/batches/{batch_id}/release", data=form, follow_redirects=False
        )
        assert done.status_code == 303, done.text
    assert (
        session.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'release' AND outcome = 'accepted' "
                "AND detail ->> 'replayed' = 'true'"
            )
        ).scalar_one()
        == 1
    )
    assert PASSWORD not in page


def test_an_exception_is_proposed_and_approved_by_another_user_through_the_forms(
    app: Any, client: Any, session: Session
) -> None:
    from reconciliation.simulate import SimLine, write_csv_return
    from tests.factories import make_user
    from tests.reconciliation.batches import released_batch

    batch = released_batch(session, n=3)
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    lines = batch.sim(refs=False)
    p3 = batch.payouts[2]
    lines[2] = SimLine(None, None, "000", "某某", p3.amount_fen, "failed", "账号错误")
    uploaded = client.post(
        "/bank-files",
        content=write_csv_return(lines),
        headers=bank.write(),
        params={"batch_id": batch.id},
    )
    assert uploaded.json()["counts"]["unmatched"] == 1
    proposer = with_password(session, make_user(session, "civil_affairs", batch.county))
    checker = with_password(session, make_user(session, "civil_affairs", batch.county))
    x_id = session.execute(text("SELECT id FROM recon_exception")).scalar_one()

    first = TestClient(app)
    login(first, proposer)
    page = first.get("/console/exceptions")
    assert f'action="/console/exceptions/{x_id}/resolution"' in page.text
    proposed = first.post(
        f"/console/exceptions/{x_id}/resolution",
        data={
            "action": "match",
            "payout_id": str(p3.id),
            "reason": "户名改写，核对身份证后确认",
            "csrf_token": hidden(page.text, "csrf_token"),
            "form_key": hidden(page.text, "form_key"),
        },
        follow_redirects=False,
    )
    assert proposed.status_code == 303, proposed.text
    # Four eyes: the proposer is offered no approval and is refused one.
    page = first.get("/console/exceptions")
    assert "待另一位同事审核" in page.text and "批准" not in page.text
    own = first.post(
        f"/console/exceptions/{x_id}/decision",
        data={
            "decision": "approve",
            "csrf_token": hidden(page.text, "csrf_token"),
            "form_key": "own-approval",
        },
    )
    assert own.status_code == 403 and "proposer" in own.text
    assert "四眼原则" in own.text  # the headline in Chinese, the service's reason as the detail
    assert (
        session.execute(
            text("SELECT status FROM recon_exception WHERE id = :i"), {"i": x_id}
        ).scalar_one()
        == "open"
    )

    second = TestClient(app)
    login(second, checker)
    page = second.get("/console/exceptions")
    assert "户名改写" in page.text
    approved = second.post(
        f"/console/exceptions/{x_id}/decision",
        data={
            "decision": "approve",
            "csrf_token": hidden(page.text, "csrf_token"),
            "form_key": "checker-approval",
        },
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    row = session.execute(
        text(
            "SELECT status, proposed_by, resolved_by, matched_payout_id, resolution_entry_id "
            "FROM recon_exception WHERE id = :i"
        ),
        {"i": x_id},
    ).one()
    assert tuple(row)[:4] == ("matched", proposer.username, checker.username, p3.id)
    assert row.resolution_entry_id is not None


def test_an_auditor_reads_findings_in_plain_chinese_and_follows_the_trace(
    app: Any, session: Session, monkeypatch: Any
) -> None:
    from datetime import date

    from ledger.console import routes
    from tests.factories import make_user
    from tests.reports.books import allocate
    from tests.reports.worked_month import URBAN, worked_month

    worked_month(session)
    allocate(session, "440000", URBAN, 1_00, date(2024, 9, 30))  # the books reach September
    auditor = with_password(session, make_user(session, "auditor", "440000"))
    browser = TestClient(app)
    login(browser, auditor)
    page = browser.get("/console/findings", params={"jurisdiction": "440000", "period": "202409"})
    assert page.status_code == 200, page.text
    assert "发放失败未及时重新发放" in page.text and "failed_not_reissued" not in page.text
    assert " 元" in page.text and "_fen" not in page.text
    assert "/console/trace?jurisdiction=440103&amp;fund=urban_minimum_living" in page.text

    monkeypatch.setattr(routes, "TRACE_PAGE", 1)
    query = {"jurisdiction": "440103", "fund": URBAN, "period": "202406"}
    first = browser.get("/console/trace", params=query)
    assert first.status_code == 200, first.text
    assert first.text.count('<td data-label="发放">') == 1
    cursor = re.search(r'cursor=([^"&]+)" rel="next"', first.text)
    assert cursor, "no next link"
    second = browser.get("/console/trace", params={**query, "cursor": cursor.group(1)})
    assert second.status_code == 200 and second.text.count('<td data-label="发放">') == 1
    assert second.text != first.text
    outsider = with_password(session, make_user(session, "auditor", "440200"))
    other = TestClient(app)
    login(other, outsider)
    assert other.get("/console/trace", params=query).status_code == 403


def test_the_roster_import_needs_the_previewed_file_and_a_replace_the_previewed_exits(
    app: Any, session: Session
) -> None:
    c = r.county(session)
    everyone = r.rows(c.code, 4)
    assert r.upload(TestClient(app), c, r.csv_of(everyone)).status_code == 201
    with_password(session, c.maker)
    browser = TestClient(app)
    login(browser, c.maker)
    page = browser.get("/console/roster")
    fewer = r.csv_of(everyone[:1])  # a replace that ends three of four households
    preview = browser.post(
        "/console/roster/preview",
        files={"file": ("roster.csv", fewer)},
        data={
            "effective_period": r.PERIOD,
            "mode": "replace",
            "csrf_token": hidden(page.text, "csrf_token"),
        },
    )
    assert preview.status_code == 200, preview.text
    assert hidden(preview.text, "confirm_exits") == "3"
    form = {
        "effective_period": r.PERIOD,
        "mode": "replace",
        "sha256": hidden(preview.text, "sha256"),
        "confirm_exits": "3",
        "csrf_token": hidden(preview.text, "csrf_token"),
        "form_key": hidden(preview.text, "form_key"),
    }
    before = r.counts(session)
    other = browser.post(
        "/console/roster/import", files={"file": ("roster.csv", r.csv_of(everyone[:2]))}, data=form
    )
    assert other.status_code == 422 and "SHA-256" in other.text
    assert r.counts(session) == before
    done = browser.post(
        "/console/roster/import",
        files={"file": ("roster.csv", fewer)},
        data=form,
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert "%E9%80%80%E5%87%BA%203%20%E4%BA%BA" in done.headers["location"]  # 退出 3 人

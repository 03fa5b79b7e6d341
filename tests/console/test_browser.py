"""One scenario per role, end to end in chromium: each saves a screenshot in var/screenshots/."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from reconciliation.simulate import SimLine, write_csv_return
from tests.console.conftest import shot
from tests.console.helpers import PASSWORD, with_password
from tests.factories import TestUser, make_user
from tests.roster import helpers as r


def sign_in(page: Any, base: str, user: TestUser) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("用户名").fill(user.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="退出").click()
    page.wait_for_url("**/login")


def _county_with_roster(app: Any, session: Session) -> r.County:
    c = r.county(session)
    assert r.upload(TestClient(app), c, r.csv_of(r.rows(c.code, 4))).status_code == 201
    for u in (c.maker, c.checker, c.bank):
        with_password(session, u)
    return c


def _build_and_release(page: Any, server: str, c: r.County) -> int:
    sign_in(page, server, c.maker)
    page.get_by_label("资金").select_option("urban_minimum_living")
    page.get_by_label("期间（年月）").fill(r.PERIOD)
    page.get_by_role("button", name="生成批次并检查").click()
    page.wait_for_url("**/console/batches/*")
    batch_id = int(page.url.split("/console/batches/")[1].split("?")[0])
    assert "已生成" in page.locator("[role=status]").inner_text()
    sign_out(page)
    sign_in(page, server, c.checker)
    page.goto(f"{server}/console/batches/{batch_id}")
    page.get_by_role("button", name="发放（由制单人以外的同事操作）").click()
    page.wait_for_load_state()
    assert "已发放" in page.locator("[role=status]").inner_text()
    return batch_id


def test_a_maker_builds_a_batch_and_a_checker_releases_it(
    server: str, page: Any, app: Any, session: Session
) -> None:
    c = _county_with_roster(app, session)
    batch_id = _build_and_release(page, server, c)
    assert page.locator("#payouts tbody tr").count() == 4
    shot(page, "civil-affairs-released")
    row = session.execute(
        text("SELECT created_by, released_by, status FROM payment_batch WHERE id = :b"),
        {"b": batch_id},
    ).one()
    assert tuple(row) == (c.maker.username, c.checker.username, "released")


def _return_file(instructions: bytes, failed_seq: int) -> bytes:
    lines = []
    for rec in csv.reader(io.StringIO(instructions.decode("utf-8-sig"))):
        if not rec or not rec[0].strip().isdigit():
            continue
        seq, account, name, amount, reference = rec[:5]
        fen = int(Decimal(amount.replace(",", "")) * 100)
        bad = int(seq) == failed_seq
        lines.append(
            SimLine(
                int(seq),
                reference,
                account,
                name,
                fen,
                "failed" if bad else "paid",
                "账号不存在" if bad else None,
            )
        )
    return write_csv_return(lines, encoding="utf-8")


def test_the_bank_downloads_its_file_and_uploads_the_return(
    server: str, page: Any, app: Any, session: Session, tmp_path: Path
) -> None:
    c = _county_with_roster(app, session)
    batch_id = _build_and_release(page, server, c)
    sign_out(page)
    sign_in(page, server, c.bank)
    page.get_by_role("link", name=f"批次 {batch_id}").click()
    with page.expect_download() as got:
        page.get_by_role("link", name="下载 CSV").click()
    download = got.value
    assert download.suggested_filename.startswith("ICBCGD_440103_")
    assert download.suggested_filename.endswith(f"_{r.PERIOD}_批次{batch_id}.csv")
    returned = tmp_path / "huipan.csv"
    returned.write_bytes(_return_file(Path(download.path()).read_bytes(), failed_seq=2))
    page.get_by_label("回盘文件（CSV、pain.002、camt.054）").set_input_files(str(returned))
    page.get_by_role("button", name="上传并对账").click()
    page.locator("#return-result").wait_for()
    states = page.locator("#payouts tbody tr td:nth-child(7)").all_inner_texts()
    assert states.count("已支付") == 3 and states.count("失败") == 1
    assert "账号不存在" in page.locator("#payouts").inner_text()
    shot(page, "bank-return-file")


def test_finance_approves_and_rejects_documents(
    server: str, page: Any, client: Any, session: Session
) -> None:
    maker = make_user(session, "finance", "440000")
    checker = with_password(session, make_user(session, "finance", "440000"))
    ids = []
    for n in (1, 2):
        made = client.post(
            "/documents/allocations",
            headers=maker.write(),
            json={
                "number": f"粤财社〔2026〕{n}号",
                "fiscal_year": 2026,
                "amount": "1000.00",
                "fund": "urban_minimum_living",
            },
        )
        ids.append(made.json()["id"])
    sign_in(page, server, checker)
    page.get_by_role("link", name="待我审核（2）").click()
    page.locator(f"#doc-{ids[0]}").get_by_role("button", name="审核通过").click()
    page.wait_for_load_state()
    assert "已审核通过" in page.locator("[role=status]").inner_text()
    page.goto(f"{server}/console/documents?status=draft&awaiting_me=true")
    page.locator(f"#doc-{ids[1]}").get_by_label("退回理由").fill("文号有误，请重新起草")
    page.locator(f"#doc-{ids[1]}").get_by_role("button", name="退回").click()
    page.wait_for_load_state()
    page.goto(f"{server}/console/documents?status=")
    shot(page, "finance-documents")
    got = dict(
        session.execute(
            text("SELECT id, status FROM fund_document WHERE id = ANY(:i)"), {"i": ids}
        ).all()
    )
    assert got == {ids[0]: "posted", ids[1]: "rejected"}
    page.goto(f"{server}/console/fund-flow?fiscal_year=2026")
    assert page.locator("svg[role=img]").count() == 1
    shot(page, "finance-fund-flow")


def test_an_auditor_downloads_an_audit_pdf_and_checks_it(
    server: str, page: Any, app: Any, session: Session, tmp_path: Path
) -> None:
    c = _county_with_roster(app, session)
    _build_and_release(page, server, c)
    sign_out(page)
    auditor = with_password(session, make_user(session, "auditor", "440000"))
    sign_in(page, server, auditor)
    page.get_by_label("期间").fill(r.PERIOD)
    with page.expect_download() as got:
        page.get_by_role("button", name="下载审计报告 PDF").click()
    pdf = tmp_path / "audit.pdf"
    got.value.save_as(str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF")
    page.get_by_role("link", name="核验一份报告 PDF").click()
    page.get_by_label("报告文件（PDF）").set_input_files(str(pdf))
    page.get_by_role("button", name="核验").click()
    result = page.locator("#check-result")
    result.wait_for()
    assert "是本系统生成的报告" in result.inner_text()
    assert "账簿核对一致" in result.inner_text()
    shot(page, "auditor-check-pdf")
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(pdf.read_bytes() + b"\n%")
    page.get_by_label("报告文件（PDF）").set_input_files(str(forged))
    page.get_by_role("button", name="核验").click()
    assert "未找到生成记录" in page.locator("#check-result").inner_text()


def test_the_public_page_shows_a_disclosure(
    server: str, page: Any, app: Any, session: Session
) -> None:
    c = _county_with_roster(app, session)
    client = TestClient(app)
    batch = r.build(client, c).json()
    assert r.release(client, c, batch["id"]).status_code == 200
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server}/public/disclosure")
    page.get_by_label("区县代码").fill(c.code)
    page.get_by_label("期间（年月）").fill(r.PERIOD)
    page.get_by_role("button", name="查询").click()
    table = page.locator("#disclosure")
    table.wait_for()
    text_shown = table.inner_text()
    names = session.execute(text("SELECT payee_name FROM payout")).scalars().all()
    assert len(names) == 4 and all(n not in text_shown for n in names)
    assert "合计 4 户" in text_shown and "监督举报电话" in text_shown
    shot(page, "public-disclosure-phone")


def test_civil_affairs_previews_a_roster_sees_its_line_errors_then_imports_a_good_file(
    server: str, page: Any, session: Session, tmp_path: Path
) -> None:
    c = r.county(session)
    with_password(session, c.maker)
    good = r.csv_of(r.rows(c.code, 3))
    header, *body = good.decode("utf-8-sig").splitlines()
    cells = body[1].split(",")
    cells[8] = "四百元"  # 月发放金额 on the file's line 3
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([header, body[0], ",".join(cells), body[2]]) + "\n", "utf-8")
    good_file = tmp_path / "roster.csv"
    good_file.write_bytes(good)

    sign_in(page, server, c.maker)
    page.get_by_role("link", name="花名册导入").click()
    page.get_by_label("花名册文件（CSV 或 XLSX）").set_input_files(str(bad))
    page.get_by_label("生效期间（年月）").fill(r.PERIOD)
    page.get_by_role("button", name="预览").click()
    errors = page.locator("#roster-errors")
    errors.wait_for()
    line = errors.locator("#line-3")
    assert "第 3 行" in line.inner_text() and "月发放金额" in line.inner_text()
    assert errors.locator("tbody tr").count() == 1
    assert session.execute(text("SELECT count(*) FROM roster_version")).scalar_one() == 0
    shot(page, "civil-affairs-roster-errors")

    page.get_by_label("花名册文件（CSV 或 XLSX）").set_input_files(str(good_file))
    page.get_by_label("生效期间（年月）").fill(r.PERIOD)
    page.get_by_role("button", name="预览").click()
    page.locator("#roster-preview").wait_for()
    assert page.locator("#joined").inner_text() == "3"
    assert page.locator("#changed").inner_text() == "0"
    assert "第 2、3、4 行" in page.locator("#roster-preview").inner_text()
    assert session.execute(text("SELECT count(*) FROM roster_version")).scalar_one() == 0
    shot(page, "civil-affairs-roster-preview")
    page.get_by_label("再次选择同一文件（roster.csv）").set_input_files(str(good_file))
    page.get_by_role("button", name="确认导入").click()
    page.wait_for_url("**/console/roster?notice=*")
    assert "新增 3 人" in page.locator("[role=status]").inner_text()
    imported = session.execute(
        text(
            "SELECT count(*), min(imported_by) FROM roster_version v "
            "JOIN register_import i ON i.id = v.import_id"
        )
    ).one()
    assert tuple(imported) == (3, c.maker.username)

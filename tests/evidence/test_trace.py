"""The fund trace: from the province's allocation to the people paid, paged, masked and scoped;
its CSV and XLSX; and the offline audit bundle, whose proofs verify from the zip alone."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.evidence import checkpoint as cp
from ledger.evidence import payout_proof
from ledger.pii import mask_name
from reconciliation.simulate import SimLine, write_csv_return
from tests.cli.run import CliRunnerOn
from tests.evidence.test_docs_snippet import snippet
from tests.factories import finance_pair, make_user, posted_document
from tests.roster.helpers import URBAN, build, county, csv_of, release, rows, upload

PERIOD = f"{date.today().year}03"  # documents are dated this fiscal year


def fen(amount: str) -> int:
    return int(Decimal(amount) * 100)


def _books(client: Any, session: Session) -> dict[str, Any]:
    """Documents down the tree (province → city → county), a released batch, a bank file that
    pays all but one line."""
    c = county(session)
    province, pchecker = finance_pair(session, "440000")
    city, cchecker = finance_pair(session, "440100")
    allocated = posted_document(session, province, pchecker, amount_fen=50_000_00, fund=URBAN)
    posted_document(session, province, pchecker, amount_fen=40_000_00, fund=URBAN,
                    doc_type="transfer", to_jurisdiction="440100")  # fmt: skip
    posted_document(session, city, cchecker, amount_fen=30_000_00, fund=URBAN,
                    doc_type="transfer", to_jurisdiction="440103")  # fmt: skip
    roster = rows(c.code, 5)
    assert upload(client, c, csv_of(roster), period=PERIOD).status_code == 201
    batch = build(client, c, period=PERIOD).json()
    found = client.get(f"/batches/{batch['id']}/findings", headers=c.maker.headers).json()
    for rule in {f["rule"] for f in found if f["severity"] == "warning"}:
        client.post(f"/batches/{batch['id']}/acknowledgements", headers=c.checker.write(),
                    json={"rule": rule, "reason": "已入户核实"})  # fmt: skip
    assert release(client, c, batch["id"]).status_code == 200
    lines = session.execute(
        text("SELECT seq, reference, payee_name, amount_fen FROM payout WHERE batch_id = :b "
             "ORDER BY seq"), {"b": batch["id"]},
    ).all()  # fmt: skip
    answer = [
        SimLine(ln.seq, ln.reference, "", ln.payee_name, ln.amount_fen,
                "failed" if ln.seq == 1 else "paid", "已销户" if ln.seq == 1 else None)
        for ln in lines
    ]  # fmt: skip
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    filed = client.post("/bank-files", content=write_csv_return(answer), headers=bank.write())
    assert filed.status_code == 201, filed.text
    auditor = make_user(session, "auditor", "440000")
    return {"county": c, "batch": batch, "lines": lines, "file": filed.json(),
            "allocated": allocated, "auditor": auditor, "bank": bank}  # fmt: skip


def test_an_auditor_follows_the_allocation_to_the_people_paid(
    client: Any, session: Session
) -> None:
    books = _books(client, session)
    auditor = books["auditor"].headers
    params = {"fund": URBAN, "period": PERIOD}
    summary = client.get("/jurisdictions/440000/trace/summary", headers=auditor, params=params)
    assert summary.status_code == 200, summary.text
    s = summary.json()
    assert [d["id"] for d in s["allocations"]] == [books["allocated"]["id"]]
    assert [(d["jurisdiction"], d["to_jurisdiction"]) for d in s["transfers"]] == [
        ("440000", "440100"), ("440100", "440103")
    ]  # fmt: skip
    assert all(d["entry_id"] for d in [*s["allocations"], *s["transfers"]])
    to_county = sum(fen(d["amount"]) for d in s["transfers"] if d["to_jurisdiction"] == "440103")
    assert fen(s["allocated"]) >= fen(s["transfers"][0]["amount"]) >= to_county >= fen(s["paid"])

    items: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = client.get("/jurisdictions/440000/trace", headers=auditor,
                          params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})})  # fmt: skip
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        pages += 1
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
    lines = books["lines"]
    assert pages == 3 and [i["reference"] for i in items] == [ln.reference for ln in lines]
    for batch in s["batches"]:
        mine = [i for i in items if i["batch_id"] == batch["id"]]
        assert sum(fen(i["amount"]) for i in mine) == fen(batch["total"])
    assert sum(fen(i["amount"]) for i in items if i["state"] == "paid") == fen(s["paid"])
    by_ref = {ln.reference: ln for ln in lines}
    file_id = books["file"]["file_id"]
    for item in items:
        line = by_ref[item["reference"]]
        assert item["masked_name"] == mask_name(line.payee_name) != line.payee_name
        assert item["roster_version_id"] is not None and item["last_entry_id"] is not None
        assert item["state"] == ("failed" if line.seq == 1 else "paid")
        assert item["bank_file_id"] == file_id and item["bank_file_line"] is not None
    text_of = json.dumps(items, ensure_ascii=False)
    assert not any(ln.payee_name in text_of for ln in lines if len(ln.payee_name) > 1)


def test_scope_and_refusals(client: Any, session: Session) -> None:
    books = _books(client, session)
    params = {"fund": URBAN, "period": PERIOD}
    elsewhere = make_user(session, "auditor", "440300")
    for who, status in ((books["bank"], 403), (elsewhere, 403), (books["county"].maker, 200)):
        got = client.get("/jurisdictions/440103/trace", headers=who.headers, params=params)
        assert got.status_code == status, (who.role, got.text)
    auditor = books["auditor"].headers
    bad = client.get("/jurisdictions/440000/trace", headers=auditor,
                     params={**params, "cursor": "nonsense"})  # fmt: skip
    assert bad.status_code == 422
    typo = client.get("/jurisdictions/440000/trace", headers=auditor, params={**params, "fnd": 1})
    assert typo.status_code == 422
    own_city = client.get("/jurisdictions/440103/trace/summary", headers=auditor, params=params)
    assert own_city.json()["allocations"] == [] and own_city.json()["transfers"] == []


def test_trace_csv_and_xlsx_are_masked_neutralised_and_recorded(
    client: Any, session: Session
) -> None:
    books = _books(client, session)
    auditor = books["auditor"].headers
    params = {"fund": URBAN, "period": PERIOD}
    got = client.get("/jurisdictions/440000/trace.csv", headers=auditor, params=params)
    assert got.status_code == 200, got.text
    assert got.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    kinds = [r[0] for r in table[1:]]
    assert kinds == ["allocation", "transfer", "transfer", "batch"] + ["payout"] * 5
    payouts = [r for r in table if r[0] == "payout"]
    assert {r[2] for r in payouts} == {ln.reference for ln in books["lines"]}
    assert all(
        r[6] == mask_name(ln.payee_name) for r, ln in zip(payouts, books["lines"], strict=True)
    )
    record = session.execute(
        text("SELECT kind, sha256 FROM report_record ORDER BY id DESC LIMIT 1")
    ).one()
    assert record.kind == "trace_csv" and record.sha256 == hashlib.sha256(got.content).hexdigest()

    xlsx = client.get("/jurisdictions/440000/trace.xlsx", headers=auditor, params=params)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert [v[0] for v in values[1:]] == kinds
    assert all(isinstance(v[6], str) for v in values if v[0] == "payout")
    assert Decimal(str(values[1][7])) == Decimal("50000.00")


def test_audit_bundle_holds_every_file_and_its_proofs_verify_offline(
    client: Any, session: Session, cli: CliRunnerOn, tmp_path: Path
) -> None:
    books = _books(client, session)
    out = tmp_path / "bundle.zip"
    made = cli("--as", books["auditor"].username, "audit-bundle", "--jurisdiction", "440103",
               "--period", PERIOD, "--out", str(out), "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert not (tmp_path / "bundle.zip.part").exists()
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        files = {n: z.read(n) for n in names}
    refs = [ln.reference for ln in books["lines"]]
    assert {
        f"audit-440103-{PERIOD}.pdf", f"disclosure-440103-{URBAN}-{PERIOD}.pdf",
        f"trace-440103-{URBAN}-{PERIOD}.csv", f"findings-440103-{PERIOD}.csv",
        "checkpoint.json", "README.txt", "MANIFEST.sha256",
        *(f"proofs/{r}.json" for r in refs),
    } == names  # fmt: skip
    manifest = dict(
        reversed(line.split("  ", 1)) for line in files["MANIFEST.sha256"].decode().splitlines()
    )
    assert set(manifest) == names - {"MANIFEST.sha256"}
    assert all(hashlib.sha256(files[n]).hexdigest() == d for n, d in manifest.items())
    assert "ledger proof verify" in files["README.txt"].decode()
    signed = cp.parse(json.loads(files["checkpoint.json"]))
    signed.verify_signature()
    proven = snippet(1)["payout_proven"]
    for r in refs:
        proof = json.loads(files[f"proofs/{r}.json"])
        assert payout_proof.verify_payout_proof(proof, signed).reference == r
        assert proven(proof, signed.as_dict())
    kinds = session.execute(
        text("SELECT kind FROM report_record WHERE generated_by = :u ORDER BY id"),
        {"u": books["auditor"].username},
    ).scalars()
    assert list(kinds) == ["audit", "disclosure", "trace_csv", "findings_csv"]
    refused = cli("--as", books["bank"].username, "audit-bundle", "--jurisdiction", "440103",
                  "--period", PERIOD, "--out", str(tmp_path / "no.zip"))  # fmt: skip
    assert refused.exit_code != 0 and not (tmp_path / "no.zip").exists()

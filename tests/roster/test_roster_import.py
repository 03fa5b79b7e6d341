"""Roster uploads: encodings and layouts accepted, bad files refused whole, versions kept."""

from __future__ import annotations

import dataclasses
import io
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import text

from ledger.pii import account_key, decrypt, mask_account
from ledger.roster import service
from ledger.roster.files import ROSTER_HEADERS
from ledger.roster.synthetic import write_roster_xlsx
from tests.roster.helpers import PERIOD, URBAN, counts, county, csv_of, rows, upload


def test_utf8_gbk_bom_and_xlsx_rosters_are_accepted(client, session):
    c = county(session, fund_fen=0)
    roster = rows(c.code, 6)
    for data, name in [
        (csv_of(roster), "a.csv"),
        (csv_of(roster, encoding="gbk"), "b.csv"),
        (b"\xef\xbb\xbf" + csv_of(roster), "c.csv"),
        (write_roster_xlsx(roster), "d.xlsx"),
    ]:
        reply = upload(client, c, data, name=name)
        assert reply.status_code == 201, reply.text
    first = session.execute(text("SELECT count(*) FROM roster_version")).scalar_one()
    assert first == 6  # the same roster four times is one version per person


def test_blank_lines_title_row_and_full_width_digits(client, session):
    c = county(session, fund_fen=0)
    roster = rows(c.code, 3)
    text_ = csv_of(roster).decode()
    header, *lines = text_.split("\r\n")
    wide = lines[0].replace(
        roster[0].account_no,
        roster[0].account_no.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    )
    data = "\r\n".join(["城市低保花名册,,,", header, "", wide, "", *lines[1:]]).encode()
    reply = upload(client, c, data)
    assert reply.status_code == 201, reply.text
    assert reply.json()["joined"] == 3
    stored = session.execute(
        text(
            "SELECT account_key, account_enc, account_masked FROM roster_version "
            "WHERE household_id = :h"
        ),
        {"h": roster[0].household_id},
    ).one()
    assert stored.account_key == account_key(roster[0].account_no)
    assert decrypt(stored.account_enc) == roster[0].account_no
    assert stored.account_masked == mask_account(roster[0].account_no)


def test_the_id_number_is_kept_only_as_key_and_mask(client, session):
    c = county(session, fund_fen=0)
    roster = rows(c.code, 2)
    assert upload(client, c, csv_of(roster)).status_code == 201
    row = session.execute(text("SELECT * FROM roster_version LIMIT 1")).mappings().one()
    values = " ".join(str(v) for v in row.values())
    assert all(r.id_number not in values for r in roster)
    assert row["id_masked"].count("*") == 16


def test_bad_check_digit_names_line_column_and_reason(client, session):
    c = county(session, fund_fen=0)
    roster = rows(c.code, 4)
    bad = roster[2].id_number[:17] + ("0" if roster[2].id_number[17] != "0" else "1")
    roster[2] = dataclasses.replace(roster[2], id_number=bad)
    before = counts(session)
    reply = upload(client, c, csv_of(roster))
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "validation_failed"
    assert {k: error["details"][0][k] for k in ("line", "field")} == {
        "line": 4,
        "field": "公民身份号码",
    }
    assert "check digit" in error["details"][0]["reason"]
    assert counts(session) == before


def test_unknown_fund_and_county_outside_scope_are_errors(client, session):
    c = county(session, fund_fen=0)
    roster = rows(c.code, 3)
    roster[0] = dataclasses.replace(roster[0], fund="火星补贴")
    roster[1] = dataclasses.replace(roster[1], county_code="440104")
    reply = upload(client, c, csv_of(roster))
    assert reply.status_code == 422
    details = reply.json()["error"]["details"]
    assert {(d["line"], d["field"]) for d in details} == {
        (2, ROSTER_HEADERS["fund"]),
        (3, ROSTER_HEADERS["county_code"]),
    }


def test_luhn_failure_is_only_a_warning(client, session):
    c = county(session, fund_fen=0)
    roster = rows(c.code, 2)
    no = roster[0].account_no
    roster[0] = dataclasses.replace(roster[0], account_no=no[:-1] + str((int(no[-1]) + 1) % 10))
    reply = upload(client, c, csv_of(roster))
    assert reply.status_code == 201
    assert any("Luhn" in w["reason"] for w in reply.json()["warnings"])


def test_only_civil_affairs_of_the_county_import(client, session):
    c = county(session, fund_fen=0)
    data = csv_of(rows(c.code, 2))
    other = county(session, "440104", fund_fen=0)
    reply = client.post(
        f"/counties/{c.code}/roster",
        headers=other.maker.write(),
        files={"file": ("r.csv", data)},
        data={"effective_period": PERIOD},
    )
    assert reply.status_code == 403
    reply = client.post(
        f"/counties/{c.code}/roster",
        headers=c.bank.write(),
        files={"file": ("r.csv", data)},
        data={"effective_period": PERIOD},
    )
    assert reply.status_code == 403


def test_joins_exits_and_changes_keep_their_history(client, session):
    c = county(session, fund_fen=0)
    roster = rows(c.code, 5)
    assert upload(client, c, csv_of(roster), period="202401").status_code == 201
    later = [dataclasses.replace(r) for r in roster[1:]]  # roster[0] exits
    later[0] = dataclasses.replace(later[0], monthly_amount_fen=later[0].monthly_amount_fen + 100)
    later.append(rows(c.code, 1, seed=99)[0])  # a join
    reply = upload(
        client, c, csv_of(later), period="202403", mode="replace", confirm_exits=1
    ).json()
    assert (reply["joined"], reply["changed"], reply["exited"], reply["unchanged"]) == (1, 1, 1, 3)
    jan = service.roster_at(session, county=c.code, period="202401")
    mar = service.roster_at(session, county=c.code, period="202403")
    assert {r["household_id"] for r in jan} == {r.household_id for r in roster}
    assert {r["household_id"] for r in mar} == {r.household_id for r in later}
    changed = {r["household_id"]: r["amount_fen"] for r in mar}[later[0].household_id]
    assert changed == roster[1].monthly_amount_fen + 100
    assert {r["household_id"]: r["amount_fen"] for r in jan}[roster[1].household_id] == (
        roster[1].monthly_amount_fen
    )


def test_an_end_period_ends_the_entitlement(client, session):
    c = county(session, fund_fen=0)
    roster = rows(c.code, 2)
    roster[0] = dataclasses.replace(roster[0], end_period="202402")
    assert upload(client, c, csv_of(roster), period="202401").status_code == 201
    assert len(service.roster_at(session, county=c.code, period="202402")) == 2
    assert len(service.roster_at(session, county=c.code, period="202403")) == 1


_CORRUPTIONS = {
    "id_number": lambda r: dataclasses.replace(
        r, id_number=r.id_number[:10] + "13" + r.id_number[12:]
    ),
    "amount": lambda r: dataclasses.replace(r, monthly_amount_fen=-5),
    "period": lambda r: dataclasses.replace(r, start_period="2024-13"),
    "size": lambda r: dataclasses.replace(r, household_size=0),
    "fund": lambda r: dataclasses.replace(r, fund="unknown"),
}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    which=st.lists(st.sampled_from(sorted(_CORRUPTIONS)), min_size=1, max_size=3),
    seed=st.integers(0, 10_000),
    xlsx=st.booleans(),
)
def test_a_rejected_file_changes_nothing(session, which, seed, xlsx):
    """Property: whatever hard errors a file has, the roster and imports are as before."""
    from tests.roster.helpers import ensure_bank

    ensure_bank(session)
    good = rows("440103", 6, seed=seed)
    service.import_roster(
        session,
        county="440103",
        data=csv_of(good),
        filename="g.csv",
        effective_period="202401",
        imported_by="t",
    )
    session.commit()
    before = counts(session)
    snapshot = service.roster_at(session, county="440103", period="202403")
    rng = random.Random(seed)
    bad = list(good)
    for name in which:
        i = rng.randrange(len(bad))
        bad[i] = _CORRUPTIONS[name](bad[i])
    bad.append(rows("440103", 1, seed=seed + 1)[0])  # a join that must not happen either
    data = write_roster_xlsx(bad) if xlsx else csv_of(bad)
    try:
        service.import_roster(
            session,
            county="440103",
            data=data,
            filename="b",
            effective_period="202403",
            imported_by="t",
        )
    except Exception as exc:
        session.rollback()
        assert getattr(exc, "status_code", None) == 422
    else:
        raise AssertionError("a file with hard errors was accepted")
    assert counts(session) == before
    assert service.roster_at(session, county="440103", period="202403") == snapshot


def test_xlsx_with_numbers_as_cells(client, session):
    c = county(session, fund_fen=0)
    roster = rows(c.code, 2)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    data = csv_of(roster).decode().split("\r\n")
    for line in data:
        if line:
            ws.append(line.split(","))
    buf = io.BytesIO()
    wb.save(buf)
    assert upload(client, c, buf.getvalue(), name="r.xlsx").status_code == 201
    assert {r["fund_code"] for r in service.roster_at(session, county=c.code, period=PERIOD)} == {
        URBAN
    }

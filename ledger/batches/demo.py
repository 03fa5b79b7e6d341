"""Demo stages of the roster and batches: every county imports a generated roster and its
registers through the API, then builds, checks, corrects, acknowledges and releases a month's
batches with two people, and hands each bank its instruction files (``DIR/bank/``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text

from ledger.demo import DEMO_BANKS, DEMO_FUNDS, DemoContext, Stage, county_need_fen
from ledger.jurisdictions.catalog import PROVINCE, level_of, parent_of
from ledger.money import fen_to_str
from ledger.roster.files import RosterRow
from ledger.roster.synthetic import generate_roster, plant_problems, standard_fen, write_roster_csv

_SEED = 20240
# The generated rosters of a run (by run tag): the release stage corrects them at the source.
_ROSTERS: dict[str, dict[str, list[RosterRow]]] = {}


def _roster(ctx: DemoContext, i: int, county: str) -> list[RosterRow]:
    bank = DEMO_BANKS[i % 2][0]
    rows = generate_roster(
        county,
        households=ctx.size,
        seed=_SEED + i,
        funds=DEMO_FUNDS,
        bank_codes=[bank],
        start_period=ctx.period,
    )
    rows = [dataclasses.replace(r, bank_code=bank) for r in rows]
    # Planted problems need four rows and both funds (a person twice under one fund is a
    # refused file, not a finding).
    if len(rows) >= 4 and i < 3 and len({r.fund for r in rows}) > 1:
        rows = plant_problems(rows, random.Random(_SEED + i))
    return rows


def demo_rosters(ctx: DemoContext) -> dict[str, list[RosterRow]]:
    """The rosters this run generated, by county (with the ID numbers the files carried)."""
    return _ROSTERS.get(ctx.tag, {})


def _upload(
    ctx: DemoContext, county: str, rows: list[RosterRow], key: str, *, mode: str = "update"
) -> dict[str, Any]:
    """Upload a roster; a replace is previewed first (a dry run) and its exits confirmed with
    the count the preview gave, as a bureau would."""
    files = {"file": (f"{county}-花名册.csv", write_roster_csv(rows))}
    form: dict[str, Any] = {"effective_period": ctx.period, "mode": mode}
    user = ctx.user("civil_affairs", county)
    if mode == "replace":
        preview = ctx.call(
            "POST",
            f"/counties/{county}/roster",
            user=user,
            key=f"{key}-preview",
            files=files,
            data={**form, "dry_run": "true"},
        ).json()
        form["confirm_exits"] = str(preview["exited_households"])
    result: dict[str, Any] = ctx.call(
        "POST", f"/counties/{county}/roster", user=user, key=key, files=files, data=form
    ).json()
    return result


def _register(ctx: DemoContext, user: str, kind: str, body: str, jur: str, key: str) -> int:
    reply = ctx.call(
        "POST",
        f"/registers/{kind}",
        user=user,
        key=key,
        files={"file": (f"{kind}.csv", body.encode())},
        params={"jurisdiction": jur},
    ).json()
    return int(reply["rows"])


def stage_roster(ctx: DemoContext) -> dict[str, Any]:
    """Each county imports its generated roster; registers with a few planted problems."""
    rosters: dict[str, list[RosterRow]] = {}
    imported = warnings = 0
    for i, county in ctx.track(enumerate(ctx.counties), "rosters", len(ctx.counties)):
        rows = _roster(ctx, i, county)
        rosters[county] = rows
        reply = _upload(ctx, county, rows, f"roster-{county}")
        imported += reply["rows"]
        warnings += len(reply["warnings"])
    _ROSTERS[ctx.tag] = rosters

    # Standards: each county's is what its roster was generated with; each city's a little
    # lower, except the first county's city, which sits above it (a warning to see).
    lines = ["行政区划代码,救助类别,生效年月,月保障标准"]
    cities: dict[tuple[str, str], int] = {}
    for i, county in enumerate(ctx.counties):
        for fund in DEMO_FUNDS:
            std = standard_fen(county, fund, seed=_SEED + i)
            lines.append(f"{county},{fund},{ctx.period},{fen_to_str(std)}")
            if level_of(county) == 3:
                city = parent_of(county) or county
                city_std = std + 50_00 if i == 0 else std - 100_00
                cities[(city, fund)] = min(cities.get((city, fund), city_std), city_std)
    lines += [f"{c},{f},{ctx.period},{fen_to_str(v)}" for (c, f), v in sorted(cities.items())]
    standards = _register(
        ctx,
        ctx.user("finance", PROVINCE),
        "standards",
        "\n".join(lines) + "\n",
        PROVINCE,
        "standards",
    )

    # One death before the month, one payee on the public payroll, one unfiled staff relative:
    # four different people, and at least one clean payee left, so a tiny roster plants fewer.
    first = ctx.counties[0]
    people = _distinct_people(rosters[first])
    ca = ctx.user("civil_affairs", first)
    start = dt.date(int(ctx.period[:4]), int(ctx.period[4:]), 1)
    planted = {"deaths": 0, "public_payroll": 0, "staff_relatives": 0}
    if len(people) >= 3:
        dead = people[1]
        died = min(start - dt.timedelta(days=10), ctx.today)
        planted["deaths"] = _register(
            ctx,
            ca,
            "deaths",
            f"公民身份号码,姓名,死亡日期\n{dead.id_number},{dead.name},{died.isoformat()}\n",
            first,
            "deaths",
        )
    if len(people) >= 4:
        on_payroll = people[2]
        planted["public_payroll"] = _register(
            ctx,
            ca,
            "public_payroll",
            f"公民身份号码,姓名,工作单位\n{on_payroll.id_number},{on_payroll.name},某镇人民政府\n",
            first,
            "payroll",
        )
    if len(people) >= 5:
        relative, staff = people[3], people[-1]
        planted["staff_relatives"] = _register(
            ctx,
            ca,
            "staff_relatives",
            "工作人员身份证号,工作人员姓名,亲属身份证号,亲属姓名,关系,是否备案,备案日期\n"
            f"{staff.id_number},{staff.name},{relative.id_number},{relative.name},兄弟姐妹,否,\n",
            first,
            "relatives",
        )
    return {
        "households": imported,
        "roster_warnings": warnings,
        "standards": standards,
        "registers": planted,
        "county_need_per_fund": fen_to_str(county_need_fen(ctx)),
    }


def _distinct_people(rows: list[RosterRow]) -> list[RosterRow]:
    """One row per person, in roster order; a person listed twice (a planted problem) is left
    out, so the registers name people the roster lists once."""
    listed: dict[str, int] = {}
    for r in rows:
        listed[r.id_number] = listed.get(r.id_number, 0) + 1
    return [r for r in rows if listed[r.id_number] == 1]


def _findings(ctx: DemoContext, batch_id: int, user: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ctx.call("GET", f"/batches/{batch_id}/findings", user=user).json()
    return found


def _correct(ctx: DemoContext, county: str, blocking: list[dict[str, Any]], n: int) -> None:
    """Civil affairs resolves blocking findings at the source: the roster. A payee found dead
    leaves it; of a person listed in two exclusive programs, the later listing goes."""
    rosters = _ROSTERS[ctx.tag]
    rows = rosters[county]
    drop: set[str] = set()
    with ctx.session() as s:
        for f in blocking:
            pid = f["evidence"].get("payout_id")
            if pid is None:
                continue
            hh = s.execute(
                text("SELECT household_id FROM payout WHERE id = :p"), {"p": pid}
            ).scalar_one()
            if f["rule"] == "paid_after_death":
                drop.add(hh)
            elif f["rule"] == "exclusive_programs":
                listed = [r for r in rows if r.household_id == hh]
                twins = [r for r in rows if listed and r.id_number == listed[0].id_number]
                drop.add(max(twins, key=lambda r: r.line_no).household_id)
    rosters[county] = [r for r in rows if r.household_id not in drop]
    _upload(ctx, county, rosters[county], f"roster-{county}-corrected-{n}", mode="replace")


def download_name(disposition: str) -> str:
    """The UTF-8 file name a Content-Disposition header gives (RFC 6266 ``filename*``)."""
    from urllib.parse import unquote

    return Path(unquote(disposition.split("filename*=UTF-8''", 1)[1])).name


def stage_released(ctx: DemoContext) -> dict[str, Any]:
    """Build each batch, correct what blocks, acknowledge warnings, release by a second user,
    and write the bank's CSV and pain.001 files into DIR/bank/."""
    out = ctx.out / "bank"
    out.mkdir(parents=True, exist_ok=True)
    by_rule: dict[str, int] = {}
    batches = payouts = total = corrected = acknowledged = empty = 0
    for i, county in ctx.track(enumerate(ctx.counties), "counties", len(ctx.counties)):
        bank = DEMO_BANKS[i % 2][0]
        maker, checker = ctx.user("civil_affairs", county), ctx.user("civil_affairs", county, 2)
        for fund in DEMO_FUNDS:
            body = {"county": county, "fund": fund, "period": ctx.period, "bank_code": bank}
            batch = ctx.call("POST", "/batches", user=maker, key=f"b-{county}-{fund}", json=body)
            batch_id = batch.json()["id"]
            found = _findings(ctx, batch_id, maker)
            for f in found:
                by_rule[f["rule"]] = by_rule.get(f["rule"], 0) + 1
            blocking = [f for f in found if f["severity"] == "blocking"]
            if blocking:
                corrected += 1
                _correct(ctx, county, blocking, corrected)
                ctx.call("POST", f"/batches/{batch_id}/cancel", user=maker, key=f"x-{batch_id}")
                rebuilt = ctx.call(
                    "POST", "/batches", user=maker, key=f"b-{county}-{fund}-2", json=body
                )
                batch = rebuilt
                batch_id = rebuilt.json()["id"]
                found = _findings(ctx, batch_id, maker)
            if batch.json()["line_count"] == 0:  # a small roster may have no one in this fund
                ctx.call("POST", f"/batches/{batch_id}/cancel", user=maker, key=f"x-{batch_id}")
                empty += 1
                continue
            warnings = [f["id"] for f in found if f["severity"] == "warning"]
            if warnings:  # the checker, not the maker, looks at each warning and answers for it
                ctx.call(
                    "POST",
                    f"/batches/{batch_id}/acknowledgements",
                    user=checker,
                    key=f"ack-{batch_id}",
                    json={
                        "finding_ids": warnings,
                        "reason": "经乡镇(街道)入户核查，情况属实，准予发放",
                    },
                )
                acknowledged += len(warnings)
            released = ctx.call(
                "POST",
                f"/batches/{batch_id}/release",
                user=checker,
                key=f"r-{batch_id}",
                json={"effective_date": ctx.effective_date.isoformat()},
            ).json()
            banker = ctx.user("bank", bank)
            for ext in ("csv", "xml"):
                got = ctx.call("GET", f"/batches/{batch_id}/instructions.{ext}", user=banker)
                (out / download_name(got.headers["content-disposition"])).write_bytes(got.content)
            batches += 1
            payouts += released["line_count"]
            total += int(Decimal(released["total"]) * 100)
    return {
        "batches": batches,
        "payouts": payouts,
        "total": fen_to_str(total),
        "findings_by_rule": dict(sorted(by_rule.items())),
        "batches_rebuilt_after_roster_correction": corrected,
        "warnings_acknowledged_by_a_second_user": acknowledged,
        "empty_batches_cancelled": empty,
        "bank_files": str(out),
    }


BATCH_STAGES = [
    Stage(
        "roster", stage_roster, "each county imports its roster; registers with planted problems"
    ),
    Stage("released", stage_released, "batches built, checked, corrected and released; bank files"),
]

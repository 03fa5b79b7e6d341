"""``ledger demo``: a whole month of every capability, stage by stage, on one database.

Each package contributes stages; ``ledger.main`` lists them in order. A stage reads and adds to
the shared ``DemoContext`` and returns the figures it wants in ``summary.json``.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ledger import db
from ledger.access import service as access
from ledger.access.sessions import set_password
from ledger.domain import period_of
from ledger.journal.verify import verify
from ledger.jurisdictions.catalog import PROVINCE, guangdong_divisions
from ledger.jurisdictions.service import seed_reference_data
from ledger.money import fen_to_str
from ledger.uow import operator_write

console = Console(stderr=True)
T = TypeVar("T")
DEMO_FUNDS = ("urban_minimum_living", "rural_minimum_living")
DEMO_BANKS = (("ICBCGD", "中国工商银行广东省分行"), ("RCCGD", "广东省农村信用社联合社"))


@dataclass
class DemoContext:
    engine: Engine
    out: Path
    size: int
    counties: list[str]
    period: str
    effective_date: date  # the day the month's money is dated: in ``period`` (``demo_day``)
    tag: str
    create_app: Callable[..., Any]
    # The wall clock's day: what registers and complaints record happened (never a future day).
    today: date = field(default_factory=date.today)
    summary: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # role@jurisdiction[#n] -> username
    progress: Progress | None = None
    _client: Any = None

    def track(self, items: Iterable[T], description: str, total: int) -> Iterator[T]:
        """Yield ``items``, showing the work inside a stage as a progress bar on a terminal."""
        if self.progress is None:
            yield from items
            return
        task = self.progress.add_task(f"  {description}", total=total)
        for item in items:
            yield item
            self.progress.advance(task)
        self.progress.remove_task(task)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @property
    def client(self) -> Any:
        """An in-process HTTP client of the real application."""
        if self._client is None:
            import warnings

            warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")
            from fastapi.testclient import TestClient

            self._client = TestClient(self.create_app(self.engine), raise_server_exceptions=True)
        return self._client

    def call(
        self, method: str, path: str, *, user: str, key: str | None = None, **kwargs: Any
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        if key is not None:
            headers["Idempotency-Key"] = f"{self.tag}:{key}"
        response = self.client.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} as {user}: {response.status_code} {response.text}")
        return response

    def user(self, role: str, jurisdiction: str, n: int = 1) -> str:
        return self.users[f"{role}@{jurisdiction}#{n}"]


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[DemoContext], dict[str, Any] | None]
    title: str  # one line, shown while the stage runs


def shift_period(period: str, months: int) -> str:
    """``period`` (YYYYMM) moved by ``months``."""
    index = int(period[:4]) * 12 + int(period[4:]) - 1 + months
    return f"{index // 12:04d}{index % 12 + 1:02d}"


def next_demo_period(engine: Engine, today: date) -> tuple[str, str | None]:
    """The month a demo run pays, and the latest month an earlier run paid (None if none).

    A rerun on the same books continues into the month after the latest one with batches, so
    nothing an earlier run built is in the way; the first run pays this month.
    """
    with Session(engine) as s:
        latest = s.execute(text("SELECT max(period) FROM payment_batch")).scalar()
    this_month = period_of(today)
    if latest is None:
        return this_month, None
    latest = str(latest).strip()
    return max(this_month, shift_period(latest, 1)), latest


def demo_day(period: str, today: date) -> date:
    """The day a demo month's documents, releases and settlements are dated: today in this
    month; in a later month (a rerun continuing the books) the same day of that month, clamped
    to its length, so everything the demo does for ``period`` is dated in ``period``."""
    year, month = int(period[:4]), int(period[4:])
    return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))


def drop_schema(owner: Engine) -> None:
    """Drop every table of the ledger (``demo --fresh``), as the owner; the migrations make it
    again."""
    with owner.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS archive CASCADE")  # archived periods (0021)
        conn.exec_driver_sql("CREATE SCHEMA public")
    owner.dispose()


def _county_list(counties: int) -> list[str]:
    all_payers = [
        d.code for d in guangdong_divisions() if d.level == 3 or (d.level == 2 and d.pays_directly)
    ]
    if counties <= 0 or counties >= len(all_payers):
        return all_payers
    # Always include Liwan (the worked example) and Dongguan (a city that pays directly).
    chosen = ["440103", "441900"]
    step = max(1, len(all_payers) // counties)
    for code in all_payers[::step]:
        if len(chosen) >= counties:
            break
        if code not in chosen:
            chosen.append(code)
    return sorted(chosen[:counties])


DEMO_PASSWORD = "demo-console-2026"
"""The console password of the demo's users that can log in (listed in DIR/console-users.txt)."""


def console_users(ctx: DemoContext, city: str) -> list[str]:
    """Who of the demo logs in to the console: both users of the first county's bureaus, of the
    province's finance bureau, of each bank, and the auditors (argon2 is slow on purpose, so
    not all of them)."""
    county = ctx.counties[0]
    return [
        *(f"{role}@{county}#{n}" for role in ("finance", "civil_affairs") for n in (1, 2)),
        *(f"finance@{PROVINCE}#{n}" for n in (1, 2)),
        *(f"bank@{code}#{n}" for code, _ in DEMO_BANKS for n in (1, 2)),
        f"auditor@{PROVINCE}#1",
        f"auditor@{city}#1",
    ]


def write_console_users(ctx: DemoContext, city: str) -> None:
    lines = [f"console: ledger serve, then http://127.0.0.1:8000/ ; password {DEMO_PASSWORD}", ""]
    lines += [f"{key:<32} {ctx.users[key]}" for key in console_users(ctx, city)]
    ctx.out.mkdir(parents=True, exist_ok=True)
    (ctx.out / "console-users.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def stage_setup(ctx: DemoContext) -> dict[str, Any]:
    """Schema, reference data, banks, bureaus, users (two per bureau for maker-checker) and tokens."""

    def work(s: Session) -> dict[str, Any]:
        seeded = seed_reference_data(session=s)
        cities = sorted({c[:4] + "00" for c in ctx.counties})
        for i, (code, name) in enumerate(DEMO_BANKS):
            access.create_bank(
                s, code=code, name=name, counties=ctx.counties[i::2] if i < 2 else []
            )
        people = 0

        def add(role: str, jur: str, bureau: str, n: int = 1, bank: str | None = None) -> None:
            nonlocal people
            kind = access.ROLE_BUREAU[role]
            bid = access.create_bureau(s, jurisdiction=jur, kind=kind, name=bureau, bank_code=bank)
            uname = f"{ctx.tag}-{role}-{bank or jur}-{n}".lower().replace("_", "")
            access.create_user(s, username=uname, display_name=uname, bureau_id=bid, role=role)
            ctx.tokens[uname] = access.issue_token(s, user_id=_uid(s, uname), days=2, label="demo")
            ctx.users[f"{role}@{bank or jur}#{n}"] = uname
            people += 1

        for jur in dict.fromkeys([PROVINCE, *cities, *ctx.counties]):
            for n in (1, 2):
                add("finance", jur, f"{jur}财政局", n)
        for county in ctx.counties:
            for n in (1, 2):
                add("civil_affairs", county, f"{county}民政局", n)
        for code, name in DEMO_BANKS:
            for n in (1, 2):
                add("bank", PROVINCE, name, n, bank=code)
        add("auditor", PROVINCE, "广东省审计厅")
        add("auditor", cities[0], f"{cities[0]}审计局")
        add("admin", PROVINCE, "广东省民政厅信息中心")
        for key in console_users(ctx, cities[0]):
            set_password(s, username=ctx.users[key], password=DEMO_PASSWORD)
        return {"reference_data": seeded, "users": people}

    made = operator_write(ctx.engine, action="demo:setup", operator=f"demo:{ctx.tag}", work=work)
    write_console_users(ctx, sorted({c[:4] + "00" for c in ctx.counties})[0])
    return {
        "reference_data": made["reference_data"],
        "counties": len(ctx.counties),
        "users": made["users"],
    }


def _uid(s: Session, username: str) -> int:
    return int(
        s.execute(text("SELECT id FROM app_user WHERE username = :u"), {"u": username}).scalar_one()
    )


def county_need_fen(ctx: DemoContext) -> int:
    """What each county receives per fund: enough for its roster with room to spare, and for
    one large household more (a roster of one or two can cost well above the average)."""
    return ctx.size * 2_500_00 + 7_000_00


def stage_funding(ctx: DemoContext) -> dict[str, Any]:
    """Province allocates each fund, then transfers province → city → county: documents through
    the API, each made by one finance user and approved by another of the same bureau."""
    per_county = county_need_fen(ctx)
    by_city: dict[str, list[str]] = {}
    for c in ctx.counties:
        by_city.setdefault(c[:4] + "00", []).append(c)
    year = ctx.effective_date.year
    documents = 0

    def document(kind: str, issuer: str, amount_fen: int, **fields: Any) -> None:
        nonlocal documents
        documents += 1
        body = {
            "number": f"{issuer}财社〔{year}〕{ctx.tag}-{documents}号",
            "fiscal_year": year,
            "amount": fen_to_str(amount_fen),
            "effective_date": ctx.effective_date.isoformat(),
            **fields,
        }
        made = ctx.call(
            "POST",
            f"/documents/{kind}",
            user=ctx.user("finance", issuer, 1),
            key=f"doc-{documents}",
            json=body,
        ).json()
        ctx.call(
            "POST",
            f"/documents/{made['id']}/approval",
            user=ctx.user("finance", issuer, 2),
            key=f"approve-{made['id']}",
        )

    for fund in DEMO_FUNDS:
        city_amounts = {
            city: per_county * len([c for c in cs if c != city]) + per_county * 11 // 10
            for city, cs in by_city.items()
        }
        document("allocations", PROVINCE, sum(city_amounts.values()) * 12 // 10, fund=fund)
        for city, amount in ctx.track(
            city_amounts.items(), f"{fund}: transfers to cities", len(city_amounts)
        ):
            document("transfers", PROVINCE, amount, fund=fund, to_jurisdiction=city)
            for county in by_city[city]:
                if county != city:
                    document("transfers", city, per_county, fund=fund, to_jurisdiction=county)
    # 只增不减: the first county's own appropriation for a fund fell from two years ago to last
    # year, a case for the appropriation_decreased rule (planted while those years are open).
    two_ago, last = date(year - 2, 6, 15), date(year - 1, 6, 15)
    with ctx.session() as s:
        through = s.execute(text("SELECT max(period) FROM fiscal_period_close")).scalar()
    decrease_planted = through is None or through < period_of(two_ago)
    if decrease_planted:
        for day, fen in ((two_ago, 100_000_00), (last, 80_000_00)):
            document(
                "allocations",
                ctx.counties[0],
                fen,
                fund=DEMO_FUNDS[0],
                fiscal_year=day.year,
                effective_date=day.isoformat(),
                memo="本级配套资金",
            )
    flow = ctx.call(
        "GET",
        f"/jurisdictions/{PROVINCE}/fund-flow",
        user=ctx.user("auditor", PROVINCE),
        params={"fund": DEMO_FUNDS[0], "fiscal_year": year},
    ).json()["root"]
    return {
        "documents": documents,
        "api_calls": documents * 2,
        "own_appropriation_decrease_planted": decrease_planted,
        "province_flow": {
            k: flow["own"][k] for k in ("own_appropriation", "sent_below", "balance")
        },
    }


def stage_corrections(ctx: DemoContext) -> dict[str, Any]:
    """A mistaken allocation is reversed: one finance user drafts the reversal with a reason,
    a second approves it, and the original document then reads "reversed"."""
    fund = DEMO_FUNDS[0]
    maker, checker = ctx.user("finance", PROVINCE), ctx.user("finance", PROVINCE, 2)
    wrong = ctx.call(
        "POST",
        "/documents/allocations",
        user=maker,
        key="wrong-allocation",
        json={
            "number": f"粤财社〔{ctx.effective_date.year}〕{ctx.tag}-重复号",
            "fiscal_year": ctx.effective_date.year,
            "amount": "12345.00",
            "fund": fund,
            "effective_date": ctx.effective_date.isoformat(),
            "memo": "entered twice by mistake",
        },
    ).json()
    posted = ctx.call(
        "POST", f"/documents/{wrong['id']}/approval", user=checker, key=f"approve-{wrong['id']}"
    ).json()["document"]
    reversal = ctx.call(
        "POST",
        f"/entries/{posted['entry_ids'][0]}/reversal",
        user=maker,
        key=f"reverse-{wrong['id']}",
        json={"reason": "重复拨付，予以冲销", "effective_date": ctx.effective_date.isoformat()},
    ).json()
    approved = ctx.call(
        "POST",
        f"/documents/{reversal['id']}/approval",
        user=checker,
        key=f"approve-{reversal['id']}",
    ).json()["document"]
    original = ctx.call("GET", f"/documents/{wrong['id']}", user=maker).json()
    return {
        "mistaken_document": wrong["id"],
        "reversed_entry": posted["entry_ids"][0],
        "reversal_document": reversal["id"],
        "reversal_drafted_by": reversal["created_by"],
        "reversal_approved_by": approved["approved_by"],
        "reversal_entries": approved["entry_ids"],
        "original_status": original["status"],
    }


def stage_close_period(ctx: DemoContext) -> dict[str, Any]:
    """The province closes the month before the demo's: everything after this stage is dated in
    the demo's month, and the database would refuse anything dated in the closed one."""
    previous = shift_period(ctx.period, -1)
    reply = ctx.call(
        "POST",
        "/periods/close",
        user=ctx.user("finance", PROVINCE),
        key=f"close-{previous}",
        json={"period": previous},
    ).json()
    return {"closed_period": previous, "newly_closed": reply["newly_closed"]}


def stage_books(ctx: DemoContext) -> dict[str, Any]:
    """Trial balances of the province and of the whole tree, as the API reports them."""
    auditor = ctx.user("auditor", PROVINCE)
    province = ctx.call("GET", f"/jurisdictions/{PROVINCE}/trial-balance", user=auditor).json()
    rolled = ctx.call(
        "GET", f"/jurisdictions/{PROVINCE}/trial-balance", user=auditor, params={"rollup": True}
    ).json()
    with ctx.session() as s:
        unbalanced = s.execute(
            text(
                "SELECT count(*) FROM (SELECT jurisdiction_code, fund_code FROM account "
                "GROUP BY 1, 2 HAVING sum(balance_fen) <> 0) t"
            )
        ).scalar_one()
        negative = s.execute(
            text("SELECT count(*) FROM account WHERE kind = 'special_cash' AND balance_fen < 0")
        ).scalar_one()
        entries = s.execute(text("SELECT count(*) FROM journal_entry")).scalar_one()
        # One partition of the payout lines a period (migration 0021); the demo pays the current
        # month, so it archives none (``ledger periods archive`` takes a closed, settled one).
        partitions = {
            r.period: r.n
            for r in s.execute(
                text("SELECT period, count(*) AS n FROM payout GROUP BY 1 ORDER BY 1")
            )
        }
        archived = list(
            s.execute(text("SELECT period FROM period_archive ORDER BY period")).scalars()
        )
    return {
        "journal_entries": entries,
        "province_trial_balance": {
            f["fund"]: {"debit": f["debit"], "credit": f["credit"]} for f in province["funds"]
        },
        "rollup_trial_balance": {
            f["fund"]: {"debit": f["debit"], "credit": f["credit"]} for f in rolled["funds"]
        },
        "unbalanced_books": unbalanced,
        "negative_special_cash": negative,
        "payout_lines_by_period_partition": partitions,
        "archived_periods": archived,
    }


CORE_STAGES = [
    Stage("setup", stage_setup, "schema, reference data, banks, bureaus, users and tokens"),
    Stage("funded", stage_funding, "allocations and transfers province → city → county"),
    Stage(
        "corrected",
        stage_corrections,
        "a mistaken allocation reversed: drafted by one user, approved by another",
    ),
    Stage("closed", stage_close_period, "the province closes the month before"),
]
FINAL_STAGES = [Stage("books", stage_books, "trial balances of the province and the tree")]


def _has_schema(engine: Engine) -> bool:
    with engine.connect() as conn:
        return (
            conn.exec_driver_sql("SELECT to_regclass('public.payment_batch')").scalar() is not None
        )


def run_demo(
    *,
    stages: list[Stage],
    out: Path,
    size: int,
    counties: int,
    until: str | None,
    create_app: Callable[..., Any],
    engine: Engine | None = None,
    fresh: bool = False,
    owner_url: str | None = None,
) -> dict[str, Any]:
    """Run ``stages`` in order (up to ``until``) and write ``out/summary.json``.

    With ``fresh`` the schema is dropped and made again first; otherwise a database that already
    holds a demo month continues into the next month.
    """
    if size < 1:
        raise ValueError("size must be at least 1 household per county")
    names = [s.name for s in stages]
    if until is not None and until not in names:
        raise ValueError(f"--until must be one of: {', '.join(names)}")
    out.mkdir(parents=True, exist_ok=True)
    # Migrations (and a fresh start) as the owner; the demo itself runs as the app role.
    owner = owner_url or (None if engine is not None else db.database_url())
    if fresh:
        if owner is None:
            raise ValueError("a fresh demo needs the owner's database URL")
        drop_schema(db.make_engine(owner, poolclass=NullPool))
    if owner is not None:
        db.upgrade(owner)
    engine = engine or db.get_engine()
    today = date.today()
    period, latest = next_demo_period(engine, today) if _has_schema(engine) else (None, None)
    period = period or period_of(today)
    if fresh:
        console.print(f"fresh database: the schema was dropped; paying {period}")
    elif latest is None:
        console.print(f"paying {period}")
    else:
        console.print(
            f"the books already hold {latest}: [bold]continuing into {period}[/bold] "
            "(`ledger demo --fresh` starts again on an empty database)"
        )
    ctx = DemoContext(
        engine=engine,
        out=out,
        size=size,
        counties=_county_list(counties),
        period=period,
        effective_date=demo_day(period, today),
        today=today,
        tag=f"d{int(time.time()) % 10**8:08d}",
        create_app=create_app,
    )
    ctx.summary = {
        "period": ctx.period,
        "continued_from": latest,
        "fresh": fresh,
        "run": ctx.tag,
        "stages": {},
    }
    started = time.perf_counter()
    # A run stopped early (--until) leaves the books mid-month: no final trial balances.
    todo = stages[: names.index(until) + 1] if until else [*stages, *FINAL_STAGES]
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        ctx.progress = progress if console.is_terminal else None
        overall: TaskID = progress.add_task("demo", total=len(todo))
        for stage in todo:
            t0 = time.perf_counter()
            progress.update(overall, description=f"[bold]{stage.name}[/bold] — {stage.title}")
            figures = stage.run(ctx) or {}
            seconds = round(time.perf_counter() - t0, 2)
            ctx.summary["stages"][stage.name] = {**figures, "seconds": seconds}
            progress.advance(overall)
            console.print(
                f"[green]✓[/green] [bold]{stage.name}[/bold] — {stage.title} ({seconds} s)"
            )
        ctx.progress = None
    with ctx.session() as s:
        report = verify(s)
    ctx.summary["verify"] = {
        k: report.as_dict()[k] for k in ("ok", "entry_count", "chain_head", "problems")
    }
    ctx.summary["chain_head"] = report.chain_head
    ctx.summary["seconds"] = round(time.perf_counter() - started, 2)
    (out / "summary.json").write_text(
        json.dumps(ctx.summary, ensure_ascii=False, indent=2, default=str)
    )
    console.print(
        f"[green]demo done[/green] in {ctx.summary['seconds']} s: month {ctx.period}, "
        f"{report.entry_count} entries, verify {'ok' if report.ok else 'FAILED'}, "
        f"head {report.chain_head[:16]}…; summary in {out / 'summary.json'}"
    )
    return ctx.summary


__all__ = ["CORE_STAGES", "DemoContext", "Stage", "fen_to_str", "run_demo", "shift_period"]

"""Demo stage ``notice``: the notice's registers and complaints in one county, with one planted
case of each rule they feed, and the findings the audit rules then name.

In the first county with payouts this month: reviews for every paid household (one information
check eight months old, one home visit fourteen months old), an asset limit, a bank's deposit
for a household the check recorded as having none, a securities holding above the limit, and
complaints (one open past its deadline, one closed in time, one submitted by the public)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text

from ledger.batches.demo import demo_rosters
from ledger.demo import DEMO_BANKS, DemoContext, Stage
from ledger.jurisdictions.catalog import PROVINCE
from ledger.pii import person_key

NEW_RULES = (
    "information_check_overdue",
    "home_visit_overdue",
    "holdings_above_limit",
    "undeclared_holding",
    "complaint_overdue",
    "appropriation_decreased",  # planted by the funded stage: the first county's own money fell
)


def _paid_households(
    ctx: DemoContext,
) -> tuple[str, str, list[tuple[str, str, int]], list[str]]:
    """(county, fund, [(household, person key, size)] of that fund, every household of the
    county paid this month in any fund) of the first county paid this month."""
    with ctx.session() as s:
        rows = s.execute(
            text(
                "SELECT county_code, fund_code, household_id, min(person_key) AS pk, "
                "max(household_size) AS size FROM payout WHERE period = :p AND state IN ('sent', 'paid') "
                "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            ),
            {"p": ctx.period},
        ).all()
    if not rows:
        return ctx.counties[0], "", [], []
    county, fund = rows[0].county_code.strip(), rows[0].fund_code
    cases = [
        (r.household_id, r.pk, int(r.size))
        for r in rows
        if r.county_code.strip() == county and r.fund_code == fund
    ]
    every = sorted({r.household_id for r in rows if r.county_code.strip() == county})
    return county, fund, cases, every


def _post_file(ctx: DemoContext, path: str, user: str, key: str, body: str, **params: str) -> Any:
    files = {"file": (f"{key}.csv", body.encode())}
    return ctx.call("POST", path, user=user, key=key, files=files, params=params).json()


def stage_notice(ctx: DemoContext) -> dict[str, Any]:
    county, fund, households, every = _paid_households(ctx)
    if not households:
        return {"county": county, "planted": {}}
    # Reviews, holdings and complaints happened by today (their registers refuse a future day),
    # also in a later demo month; the audit judges them as of that month's report date.
    today = ctx.today
    ids = {person_key(r.id_number): r for rows in demo_rosters(ctx).values() for r in rows}
    civil = ctx.user("civil_affairs", county)
    # the households the cases are planted in (fewer households: one carries several cases)
    pick = [households[i % len(households)] for i in range(4)]
    none_h, rich_h, unchecked_h, unvisited_h = pick
    months_ago = lambda n: today - dt.timedelta(days=31 * n)  # noqa: E731

    lines = []
    for household in every:
        checked = months_ago(8) if household == unchecked_h[0] else today - dt.timedelta(days=30)
        visited = months_ago(14) if household == unvisited_h[0] else today - dt.timedelta(days=60)
        assets = "60000.00" if household == rich_h[0] and household != none_h[0] else "0"
        lines.append(f"{county},{household},信息化核对,{checked},符合条件,核对员,{assets}")
        lines.append(f"{county},{household},入户调查,{visited},家庭情况无变化,走访员,")
    header = "县区代码,户主编号,复核方式,复核日期,复核结果,复核人,核对金融资产"
    reviews = _post_file(ctx, "/registers/reviews", civil, f"reviews-{county}",
                         "\n".join([header, *lines]) + "\n", jurisdiction=county)  # fmt: skip

    limit = (
        f"行政区划代码,救助类别,生效年月,人均金融资产限额\n{county},{fund},{ctx.period},10000.00\n"
    )
    _post_file(
        ctx, "/registers/asset_limits", civil, f"limits-{county}", limit, jurisdiction=county
    )

    holding_header = "身份证号,姓名,机构类别,机构代码,账号或保单号,余额或价值,截至日期\n"
    bank_code = DEMO_BANKS[0][0]
    poor, rich = ids[none_h[1]], ids[rich_h[1]]
    deposit = f"{poor.id_number},{poor.name},银行,{bank_code},6222020200990001,1200.00,{today}\n"
    _post_file(ctx, "/registers/holdings", ctx.user("bank", bank_code), f"deposits-{county}",
               holding_header + deposit)  # fmt: skip
    shares = f"{rich.id_number},{rich.name},证券,GFSEC,A000999001,200000.00,{today}\n"
    _post_file(ctx, "/registers/holdings", civil, f"securities-{county}", holding_header + shares,
               jurisdiction=county)  # fmt: skip

    def complaint(key: str, **body: Any) -> dict[str, Any]:
        made: dict[str, Any] = ctx.call(
            "POST", "/complaints", user=civil, key=key,
            json={"jurisdiction": county, "concerns": "jurisdiction", **body},
        ).json()  # fmt: skip
        return made

    complaint("complaint-overdue", channel="letter", received_on=str(today - dt.timedelta(days=40)),
              content="来信反映本村低保评定不公开")  # fmt: skip
    on_time = complaint("complaint-on-time", channel="hotline",
                        received_on=str(today - dt.timedelta(days=10)), concerns="person",
                        id_number=poor.id_number, content="来电反映其有存款仍领低保")  # fmt: skip
    ctx.call("POST", f"/complaints/{on_time['id']}/closure", user=civil, key="complaint-closed",
             json={"outcome": "经信息化核对属实，已报县级调整", "closed_on": str(today)})  # fmt: skip
    public = ctx.client.post(
        "/public/complaints", json={"jurisdiction": county, "content": "网上举报：某户冒领救助金"}
    )
    status = ctx.client.get(f"/public/complaints/{public.json()['reference']}").json()

    auditor = ctx.user("auditor", PROVINCE)
    found = ctx.call("GET", f"/jurisdictions/{county}/findings", user=auditor,
                     params={"period": ctx.period}).json()  # fmt: skip
    items = list(found["findings"])
    if county != ctx.counties[0]:  # 只增不减 was planted in the first county by the funded stage
        first = ctx.call("GET", f"/jurisdictions/{ctx.counties[0]}/findings", user=auditor,
                         params={"period": ctx.period}).json()  # fmt: skip
        items += [f for f in first["findings"] if f["rule"] == "appropriation_decreased"]
    by_rule = {r: 0 for r in NEW_RULES}
    for f in items:
        if f["rule"] in by_rule:
            by_rule[f["rule"]] += 1
    person = ctx.call("POST", "/people/lookup", user=auditor,
                      json={"id_number": poor.id_number}).json()  # fmt: skip
    result = {
        "county": county,
        "fund": fund,
        "reviews": reviews["rows"],
        "holdings": 2,
        "complaints": 3,
        "public_complaint_status": status["status"],
        "planted": {r: 1 for r in NEW_RULES},
        "found": by_rule,
        "person_file": {
            "payouts": len(person["payouts"]),
            "matches": len(person["matches"]),
            "reviews": len(person["reviews"]),
            "complaints": len(person["complaints"]),
        },
    }
    ctx.summary["notice"] = result
    return result


STAGES = [
    Stage("notice", stage_notice, "reviews, holdings, complaints; one planted case of each rule")
]

"""Deterministic demo rosters: realistic names, valid ID and card numbers, consistent amounts.

Everything is drawn from a seeded ``random.Random``; the same arguments give the same rows.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import random
from collections.abc import Sequence

from openpyxl import Workbook
from stdnum import luhn
from stdnum.cn import ric

from ledger.money import fen_to_str
from ledger.roster.files import ROSTER_HEADERS, RosterRow

__all__ = [
    "generate_roster",
    "plant_problems",
    "standard_fen",
    "write_roster_csv",
    "write_roster_xlsx",
]

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝"
)
_COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "司徒")
_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红建国志强海燕文辉金凤"
    "丽娟春梅桂芳德明永红少华冬梅晓东国华美玲惠珍嘉欣子豪梓涵浩然雨桐佳怡俊杰淑贞锦荣"
)
_TOWNSHIPS = ("城关街道", "东城街道", "西城街道", "南岗镇", "石滩镇", "龙潭镇", "新塘镇", "大岭乡")
_VILLAGE_STEMS = "东西南北上下新旧大小石沙龙凤平安和顺黄塘岭坑田"
_VILLAGE_SUFFIXES = ("村", "村", "村", "社区")
# UnionPay debit BINs of banks that pay social assistance in Guangdong, by bank code.
_BINS = {
    "102": "622202",  # ICBC
    "103": "622848",  # ABC
    "104": "621661",  # BOC
    "105": "621700",  # CCB
    "403": "621799",  # PSBC
    "314": "623058",  # rural commercial banks
}


def _name(rng: random.Random) -> str:
    surname = rng.choice(_COMPOUND_SURNAMES) if rng.random() < 0.03 else rng.choice(_SURNAMES)
    given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return surname + given


def _id_number(rng: random.Random, county_code: str) -> str:
    start, end = dt.date(1930, 1, 1).toordinal(), dt.date(2015, 12, 31).toordinal()
    birth = dt.date.fromordinal(rng.randint(start, end))
    body = f"{county_code}{birth:%Y%m%d}{rng.randint(1, 999):03d}"
    return body + ric.calc_check_digit(body + "0")


def _card_number(rng: random.Random, bank_code: str) -> str:
    prefix = _BINS.get(bank_code) or f"62{rng.randint(0, 9999):04d}"
    length = rng.choice((16, 19, 19))
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    return body + luhn.calc_check_digit(body)


def _pays_full_standard(fund: str) -> bool:
    """特困供养 pays the standard; 低保 and the rest pay a gap."""
    return "特困" in fund or "destitute" in fund or fund.startswith(("2082101", "2082102"))


def standard_fen(county_code: str, fund: str, *, seed: int) -> int:
    """The monthly standard per person the generator used: 1,000–1,400 yuan in steps of 10."""
    rng = random.Random(f"{seed}:{county_code}:{fund}")
    return rng.randrange(1000_00, 1400_01, 10_00)


def generate_roster(
    county_code: str,
    *,
    households: int,
    seed: int,
    funds: Sequence[str],
    bank_codes: Sequence[str],
    start_period: str,
) -> list[RosterRow]:
    """``households`` rows, one per household head, line numbers as in the written file."""
    rng = random.Random(seed)
    villages = {
        t: [rng.choice(_VILLAGE_STEMS) + rng.choice(_VILLAGE_STEMS) + rng.choice(_VILLAGE_SUFFIXES)]
        + [f"{rng.choice(_VILLAGE_STEMS)}{rng.choice(_VILLAGE_STEMS)}村" for _ in range(3)]
        for t in _TOWNSHIPS
    }
    ids: set[str] = set()
    accounts: set[str] = set()
    rows = []
    for number in range(1, households + 1):
        name = _name(rng)
        id_number = _id_number(rng, county_code)
        while id_number in ids:
            id_number = _id_number(rng, county_code)
        ids.add(id_number)
        bank_code = rng.choice(bank_codes)
        account_no = _card_number(rng, bank_code)
        while account_no in accounts:
            account_no = _card_number(rng, bank_code)
        accounts.add(account_no)
        fund = rng.choice(funds)
        standard = standard_fen(county_code, fund, seed=seed)
        if _pays_full_standard(fund):
            size, amount = 1, standard
        else:
            size = rng.choice((1, 1, 2, 2, 3, 3, 4, 5))
            # The gap between the household's income and standard × size, in whole yuan.
            amount = rng.randint(standard // 10 // 100, standard * size // 100) * 100
        township = rng.choice(_TOWNSHIPS)
        rows.append(
            RosterRow(
                line_no=number + 1,
                household_id=f"{county_code}{number:08d}",
                name=name,
                id_number=id_number,
                fund=fund,
                county_code=county_code,
                township=township,
                village=rng.choice(villages[township]),
                household_size=size,
                monthly_amount_fen=amount,
                bank_code=bank_code,
                account_no=account_no,
                account_name=name,
                start_period=start_period,
                end_period=None,
            )
        )
    return rows


def plant_problems(rows: Sequence[RosterRow], rng: random.Random) -> list[RosterRow]:
    """A copy of ``rows`` with problems the checks must find (needs at least four rows):

    - one person twice: a second household lists an existing head again, under another fund
      when the roster has one (mutually exclusive programmes), else under the same fund (which
      ``parse_roster`` itself reports as a duplicate);
    - one bank account receiving for two households;
    - an account holder name different from the payee's.
    """
    if len(rows) < 4:
        raise ValueError("plant_problems needs at least four rows")
    planted = list(rows)
    first, second, third, fourth = rng.sample(range(len(planted)), 4)
    funds = sorted({r.fund for r in rows})

    person = planted[first]
    other_funds = [f for f in funds if f != person.fund]
    next_line = max(r.line_no for r in planted) + 1
    planted.append(
        dataclasses.replace(
            person,
            line_no=next_line,
            household_id=f"{person.county_code}{next_line:08d}",
            fund=rng.choice(other_funds) if other_funds else person.fund,
        )
    )

    holder = planted[second]
    planted[third] = dataclasses.replace(
        planted[third], bank_code=holder.bank_code, account_no=holder.account_no
    )

    payee = planted[fourth]
    relative = payee.name[0] + rng.choice(_GIVEN) + rng.choice(_GIVEN)
    if relative == payee.name:
        relative = payee.name[0] + "某"
    planted[fourth] = dataclasses.replace(payee, account_name=relative)
    return planted


def _cells(row: RosterRow) -> list[str]:
    return [
        row.household_id,
        row.name,
        row.id_number,
        row.fund,
        row.county_code,
        row.township,
        row.village,
        str(row.household_size),
        fen_to_str(row.monthly_amount_fen),
        row.bank_code,
        row.account_no,
        row.account_name,
        row.start_period,
        row.end_period or "",
    ]


_HEADER_ORDER = (
    "household_id",
    "name",
    "id_number",
    "fund",
    "county_code",
    "township",
    "village",
    "household_size",
    "monthly_amount",
    "bank_code",
    "account_no",
    "account_name",
    "start_period",
    "end_period",
)


def write_roster_csv(rows: Sequence[RosterRow], *, encoding: str = "utf-8") -> bytes:
    """A roster CSV with the headers ``parse_roster`` reads; one row per line from line 2."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([ROSTER_HEADERS[k] for k in _HEADER_ORDER])
    writer.writerows(_cells(r) for r in rows)
    return buffer.getvalue().encode(encoding)


def write_roster_xlsx(rows: Sequence[RosterRow]) -> bytes:
    """A one-sheet workbook; numbers that are identifiers are written as text."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("花名册")
    sheet.append([ROSTER_HEADERS[k] for k in _HEADER_ORDER])
    for row in rows:
        cells: list[str | int] = list(_cells(row))
        cells[7] = row.household_size
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()

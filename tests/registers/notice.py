"""Files for the notice's registers: holdings, asset limits, reviews, as a bureau sends them."""

from __future__ import annotations

import random

from ledger.roster.synthetic import _id_number

HOLDING_HEADER = "身份证号,姓名,机构类别,机构代码,账号或保单号,余额或价值,截至日期"
LIMIT_HEADER = "行政区划代码,救助类别,生效年月,人均金融资产限额"
REVIEW_HEADER = "县区代码,户主编号,复核方式,复核日期,复核结果,复核人,核对金融资产"


def id_numbers(n: int, county: str = "440103", seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [_id_number(rng, county) for _ in range(n)]


def csv(header: str, lines: list[str]) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()

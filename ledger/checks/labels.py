"""The Chinese names of the check rules, for reports and the command line."""

from __future__ import annotations

RULE_LABELS = {
    "same_person_twice": "同一人同一资金同一期重复发放",
    "paid_after_death": "死亡后仍发放",
    "exclusive_programs": "同时享受互斥的救助项目",
    "insufficient_special_cash": "专户余额不足以发放",
    "above_entitlement": "发放金额超过应享标准",
    "county_standard_below_city": "县级保障标准低于市级标准",
    "shared_account": "一个银行账户为多户收款",
    "account_holder_mismatch": "账户户名与收款人不符",
    "on_public_payroll": "收款人为财政供养人员",
    "unfiled_staff_relative": "工作人员近亲属享受救助未备案",
    "special_cash_idle": "专户资金闲置",
    "transfer_not_paid_out": "上级补助未及时足额拨付",
    "failed_not_reissued": "发放失败未及时重新发放",
    "information_check_overdue": "超过半年未做家庭经济状况核对",
    "home_visit_overdue": "超过一年未入户调查",
    "holdings_above_limit": "家庭金融资产超过限额",
    "undeclared_holding": "核对无资产但金融机构报告有资产",
    "appropriation_decreased": "本级投入低于上年（未做到只增不减）",
    "complaint_overdue": "投诉举报超期未办结",
}


def rule_label(rule: str) -> str:
    return RULE_LABELS.get(rule, rule)

"""Contacts and planted duplicates (撞单): every lead gets an email and a phone; leads of one company
sometimes reach the CRM written differently (full-width letters, another legal suffix, spaces, case),
from the same corporate email domain or the same phone in another format. Those are the planted
duplicate pairs the ground truth lists; leads of one company written the same way are duplicates too
(trivially). Drawn from a stream of their own, so nothing else of the data set changes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnelcast.synthetic import vocab

SUFFIXES = [
    "有限公司",
    "集团",
    "股份有限公司",
    " Ltd",
    " Inc",
    " Co., Ltd.",
    " Limited",
    "（中国）有限公司",
    "",
]


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text)


def _core(name: str) -> str:
    for suffix in sorted(vocab.COMPANY_SUFFIX, key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def written_differently(name: str, rng: np.random.Generator) -> str:
    """The same company as a rep might type it: another legal suffix, full-width letters, spaces or
    case changed (at least one of them)."""
    core = _core(name)
    out = core + SUFFIXES[rng.integers(len(SUFFIXES))]
    if rng.random() < 0.4:
        out = _full_width(out)
    if rng.random() < 0.4:
        out = out.upper() if rng.random() < 0.5 else out.lower()
    if rng.random() < 0.3:
        out = " " + out.replace(" ", "  ") + " "
    if out == name:
        out = core + " 有限公司" if not name.endswith("有限公司") else core + " Ltd"
    return out


def phone_format(digits: str, style: int) -> str:
    """One mobile number as people write it."""
    if style == 0:
        return digits
    if style == 1:
        return f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if style == 2:
        return f"(0086) {digits[:3]} {digits[3:7]} {digits[7:]}"
    return f"86-{digits}"


def add_contacts(
    leads: pd.DataFrame, seed: int, planted_share: float = 0.3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`contact_email` and `contact_phone` for every lead, and duplicates planted among the leads of a
    company (`planted_share` of the later leads of companies with several). Returns the leads and the
    planted pairs (lead_id, duplicate_of, evidence)."""
    rng = np.random.default_rng([seed, 16])
    n = len(leads)
    account = leads["_account_id"].to_numpy()
    number = np.char.lstrip(np.char.lstrip(account.astype(str), "A"), "0")
    domain = np.char.add(np.char.add("corp", number), ".com.cn")
    free = rng.random(n) < 0.35
    free_domain = np.array(vocab.FREE_MAIL)[rng.integers(0, len(vocab.FREE_MAIL), n)]
    user = np.char.add("u", np.char.lstrip(np.char.lstrip(leads["lead_id"].to_numpy().astype(str), "L"), "0"))
    email = np.char.add(np.char.add(user, "@"), np.where(free, free_domain, domain)).astype(object)
    digits = np.char.add(
        np.array(["13", "15", "17", "18", "19"])[rng.integers(0, 5, n)],
        np.char.zfill(rng.integers(0, 10**9, n).astype(str), 9),
    )
    phone = np.array(
        [phone_format(d, s) for d, s in zip(digits, rng.integers(0, 4, n), strict=True)], dtype=object
    )
    out = leads.copy()
    company = out["company"].to_numpy(dtype=object).copy()

    order = np.argsort(out["created_at"].to_numpy(), kind="stable")
    first_of: dict[str, int] = {}
    planted = []
    for i in order:
        acc = account[i]
        if acc not in first_of:
            first_of[acc] = i
            continue
        if rng.random() >= planted_share:
            continue
        j = first_of[acc]
        company[i] = written_differently(str(company[j]), rng)
        evidence = ["company"]
        if rng.random() < 0.6:  # the same corporate domain
            email[i] = f"{user[i]}@{domain[j]}"
            evidence.append("email_domain")
        if rng.random() < 0.4:  # the same contact again, the number written another way
            phone[i] = phone_format(digits[j], int(rng.integers(0, 4)))
            evidence.append("phone")
        planted.append((out["lead_id"].iat[i], out["lead_id"].iat[j], "+".join(evidence)))
    out["company"], out["contact_email"], out["contact_phone"] = company, email, phone
    pairs = pd.DataFrame(planted, columns=["lead_id", "duplicate_of", "evidence"])
    return out, pairs

"""Duplicate leads (撞单): the keys two records of one customer share however a rep typed them. A
company name without case, width, punctuation, spaces or legal suffix (有限公司, 集团, 股份, Ltd, Inc,
GmbH ...); the email domain unless it is free mail; the phone number's digits without the country
code. Keys are stored with an index on (kind, value): checking a new lead is a few index lookups,
never a scan of the book."""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

CJK_SUFFIXES = sorted(
    [
        "股份有限公司",
        "有限责任公司",
        "有限公司",
        "集团有限公司",
        "集团股份有限公司",
        "集团公司",
        "集团",
        "股份公司",
        "股份",
        "公司",
        "分公司",
    ],
    key=len,
    reverse=True,
)
LATIN_SUFFIXES = {
    "co",
    "company",
    "ltd",
    "limited",
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "llc",
    "llp",
    "gmbh",
    "ag",
    "sa",
    "sas",
    "srl",
    "bv",
    "nv",
    "plc",
    "pte",
    "pty",
    "kk",
    "oy",
    "ab",
    "as",
    "group",
    "holdings",
}
FREE_MAIL = frozenset(
    {
        "qq.com",
        "163.com",
        "126.com",
        "yeah.net",
        "sina.com",
        "sina.cn",
        "sohu.com",
        "foxmail.com",
        "aliyun.com",
        "139.com",
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "web.de",
        "mail.ru",
    }
)
_BRACKETS = re.compile(r"[(（][^)）]*[)）]")  # (中国), (Beijing): the place of a branch, not the company
_TOKEN = re.compile(r"[^\W_]+")
MAX_GROUP = 200  # a key shared by more records than this tells nothing (a switchboard, a placeholder)


def company_key(name: str | None) -> str | None:
    """`星辰科技有限公司`, `星辰科技（中国）有限公司` and `ＳＴＡＲ 科技 Co., Ltd.`: one key per company."""
    if not name or not isinstance(name, str):
        return None
    text = _BRACKETS.sub(" ", unicodedata.normalize("NFKC", name).casefold())
    tokens = _TOKEN.findall(text)
    changed = True
    while tokens and changed:
        changed = False
        if tokens[-1] in CJK_SUFFIXES or tokens[-1] in LATIN_SUFFIXES:  # a legal form as a whole word
            if len(tokens) == 1:
                return None
            tokens.pop()
            changed = True
            continue
        if tokens[-1] in LATIN_SUFFIXES and len(tokens) > 1:
            tokens.pop()
            changed = True
            continue
        for suffix in CJK_SUFFIXES:
            if tokens[-1].endswith(suffix) and len(tokens[-1]) > len(suffix):
                tokens[-1] = tokens[-1][: -len(suffix)]
                changed = True
                break
            if tokens[-1] == suffix and len(tokens) > 1:
                tokens.pop()
                changed = True
                break
    key = "".join(tokens)
    return key if len(key) >= 2 else None


def email_domain(email: str | None) -> str | None:
    """The domain of a company address (free mail tells nothing about the company)."""
    if not email or not isinstance(email, str) or "@" not in email:
        return None
    domain = unicodedata.normalize("NFKC", email).strip().casefold().rsplit("@", 1)[1].strip(". ")
    return None if not domain or "." not in domain or domain in FREE_MAIL else domain


def phone_key(phone: str | None) -> str | None:
    """The digits of a number without the country code or trunk prefix: `+86 138-1234-5678`,
    `(0086) 138 1234 5678` and `13812345678` are one number."""
    if not phone or not isinstance(phone, str):
        return None
    digits = "".join(c for c in unicodedata.normalize("NFKC", phone) if c.isdigit())
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 10:
            digits = digits[len(prefix) :]
            break
    digits = digits.lstrip("0")
    return digits if len(digits) >= 7 else None


def lead_keys(row: dict) -> list[tuple[str, str]]:
    """(kind, value) of one lead's keys."""
    company = row.get("company")
    keys = [("company", company_key(company)), ("email_domain", email_domain(row.get("contact_email")))]
    keys.append(("phone", phone_key(row.get("contact_phone"))))
    return [(k, v) for k, v in keys if v]


def keys_frame(leads: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Every key of these leads and accounts: columns entity (lead / account), entity_id, kind, value."""
    parts = []
    company = leads["company"].where(leads["company"].notna(), None)
    for kind, values in (
        ("company", company.map(company_key)),
        ("email_domain", leads.get("contact_email", pd.Series(None, index=leads.index)).map(email_domain)),
        ("phone", leads.get("contact_phone", pd.Series(None, index=leads.index)).map(phone_key)),
    ):
        parts.append(
            pd.DataFrame({"entity": "lead", "entity_id": leads["lead_id"], "kind": kind, "value": values})
        )
    parts.append(
        pd.DataFrame(
            {
                "entity": "account",
                "entity_id": accounts["account_id"],
                "kind": "company",
                "value": accounts["name"].map(company_key),
            }
        )
    )
    out = pd.concat(parts, ignore_index=True)
    return out[out["value"].notna()].reset_index(drop=True)


def pairs_frame(
    keys: pd.DataFrame, open_leads: set[str] | None = None, own_accounts: pd.Series | None = None
) -> pd.DataFrame:
    """Every lead and what it shares keys with (a lead or an account), with the evidence: columns
    lead_id, other_entity, other_id, evidence (sorted kinds joined by '+'). Keys shared by more than
    MAX_GROUP records are left out."""
    size = keys.groupby(["kind", "value"])["entity_id"].transform("size")
    keys = keys[(size > 1) & (size <= MAX_GROUP)]
    left = keys[keys["entity"] == "lead"]
    if open_leads is not None:
        left = left[left["entity_id"].isin(open_leads)]
    right = (
        keys
        if open_leads is None
        else keys[(keys["entity"] == "account") | keys["entity_id"].isin(open_leads)]
    )
    joined = left.merge(right, on=["kind", "value"], suffixes=("", "_other"))
    joined = joined[
        ~((joined["entity_other"] == "lead") & (joined["entity_id_other"] == joined["entity_id"]))
    ]
    grouped = joined.groupby(["entity_id", "entity_other", "entity_id_other"])["kind"].agg(
        lambda k: "+".join(sorted(set(k)))
    )
    out = grouped.reset_index()
    out.columns = ["lead_id", "other_entity", "other_id", "evidence"]
    if own_accounts is not None:  # a lead matched to its own account is not a duplicate
        own = out["lead_id"].map(own_accounts)
        out = out[~((out["other_entity"] == "account") & (out["other_id"] == own))].reset_index(drop=True)
    return out


def refresh(conn, entity: str, ids: list[str], now: str) -> list[tuple[str, str, str, str]]:
    """Recompute the keys of these leads (accounts) and the duplicates they take part in. Returns the
    pairs found that were not known before: (lead_id, other_entity, other_id, evidence)."""
    from sqlalchemy import and_, delete, select

    from funnelcast.book import tables as t
    from funnelcast.book.sql import chunks

    if not ids:
        return []
    k, d = t.match_keys.c, t.duplicates.c
    kind_of = "lead" if entity == "leads" else "account"
    if entity == "leads":
        rows = [
            dict(r._mapping)
            for part in chunks(ids)
            for r in conn.execute(
                select(
                    t.leads.c.lead_id,
                    t.leads.c.account_id,
                    t.leads.c.company,
                    t.leads.c.contact_email,
                    t.leads.c.contact_phone,
                    t.leads.c.converted_at,
                    t.leads.c.disqualified_at,
                ).where(t.leads.c.lead_id.in_(part))
            )
        ]
        keys = {r["lead_id"]: lead_keys(r) for r in rows}
        own_account = {r["lead_id"]: r["account_id"] for r in rows}
        open_ids = {r["lead_id"] for r in rows if r["converted_at"] is None and r["disqualified_at"] is None}
    else:
        rows = [
            dict(r._mapping)
            for part in chunks(ids)
            for r in conn.execute(
                select(t.accounts.c.account_id, t.accounts.c.name).where(t.accounts.c.account_id.in_(part))
            )
        ]
        keys = {r["account_id"]: [("company", v)] if (v := company_key(r["name"])) else [] for r in rows}
        open_ids = set()
        own_account = {}
    for part in chunks(sorted(keys)):
        conn.execute(delete(t.match_keys).where(k.entity == kind_of, k.entity_id.in_(part)))
    fresh = [
        {"entity": kind_of, "entity_id": i, "kind": kind, "value": v}
        for i, ks in keys.items()
        for kind, v in ks
    ]
    if fresh:
        conn.execute(t.match_keys.insert(), fresh)
    # who shares a key with them now (index lookups by key, never a scan)
    wanted = sorted({(kind, v) for ks in keys.values() for kind, v in ks})
    holders: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for kind in sorted({kind for kind, _ in wanted}):  # kind = ? AND value IN (...): the index, no scan
        values = [v for kd, v in wanted if kd == kind]
        for part in chunks(values):
            for r in conn.execute(
                select(k.kind, k.value, k.entity, k.entity_id).where(k.kind == kind, k.value.in_(part))
            ):
                holders.setdefault((r.kind, r.value), []).append((r.entity, r.entity_id))
    others = sorted({i for hs in holders.values() for e, i in hs if e == "lead"})
    still_open: set[str] = set()
    for part in chunks(others):
        still_open.update(
            conn.execute(
                select(t.leads.c.lead_id).where(
                    t.leads.c.lead_id.in_(part),
                    t.leads.c.converted_at.is_(None),
                    t.leads.c.disqualified_at.is_(None),
                )
            ).scalars()
        )
    linked: dict[str, str | None] = {}
    if kind_of == "account":  # which of the matching leads already belong to the account
        for part in chunks(others):
            linked.update(
                (r[0], r[1])
                for r in conn.execute(
                    select(t.leads.c.lead_id, t.leads.c.account_id).where(t.leads.c.lead_id.in_(part))
                )
            )
    pairs: dict[tuple[str, str, str], set[str]] = {}
    for i, ks in keys.items():
        for kind, v in ks:
            group = holders.get((kind, v), [])
            if len(group) > MAX_GROUP:
                continue
            for e, other in group:
                if (e, other) == (kind_of, i) or (e == "lead" and other not in still_open):
                    continue
                if kind_of == "lead" and e == "account" and own_account.get(i) == other:
                    continue  # a lead matched to its own account is that customer's lead, not a duplicate
                if kind_of == "lead" and i in open_ids:
                    pairs.setdefault((i, e, other), set()).add(kind)
                    if e == "lead":
                        pairs.setdefault((other, "lead", i), set()).add(kind)
                elif kind_of == "account" and e == "lead" and linked.get(other) != i:
                    pairs.setdefault((other, "account", i), set()).add(kind)
    # replace what these records took part in
    before: set[tuple] = set()
    for part in chunks(sorted(keys)):
        # each condition on its own index (an OR of the two would scan the table)
        conditions = [and_(d.other_entity == kind_of, d.other_id.in_(part))]
        if kind_of == "lead":
            conditions.append(d.lead_id.in_(part))
        for gone in conditions:
            before |= {
                tuple(r) for r in conn.execute(select(d.lead_id, d.other_entity, d.other_id).where(gone))
            }
            conn.execute(delete(t.duplicates).where(gone))
    new_rows = [
        {"lead_id": a, "other_entity": b, "other_id": c, "evidence": "+".join(sorted(ev)), "found_at": now}
        for (a, b, c), ev in pairs.items()
    ]
    if new_rows:
        conn.execute(t.duplicates.insert(), new_rows)
    return [
        (r["lead_id"], r["other_entity"], r["other_id"], r["evidence"])
        for r in new_rows
        if (r["lead_id"], r["other_entity"], r["other_id"]) not in before
    ]

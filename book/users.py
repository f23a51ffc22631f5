"""Workspace users: passwords hashed with scrypt (memory-hard, salted, parameters stored with the hash,
compared in constant time), a role (rep: their own leads and deals; manager: everything) and, for a
rep, the CRM owner name they work as."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import Connection, select

from funnelcast.book import tables as t
from funnelcast.core.errors import InvalidInput

ROLES = ("rep", "manager")
N, R, P = 2**14, 8, 1  # scrypt cost: 16 MiB, about 50 ms a check (slows guessing)
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, maxmem=64 * 1024 * 1024, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${N}${R}${P}${b64(salt).decode()}${b64(key).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, key = stored.split("$")
        want = base64.b64decode(key)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 1024 * 1024,
            dklen=len(want),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def add(conn: Connection, username: str, password: str, role: str, owner: str | None, now: str) -> None:
    problems = []
    if (
        not username
        or len(username) > 64
        or not username.replace("_", "").replace("-", "").replace(".", "").isalnum()
    ):
        problems.append({"field": "username", "message": "1-64 letters, digits, '.', '_' or '-'"})
    if role not in ROLES:
        problems.append({"field": "role", "message": f"one of {ROLES}"})
    if role == "rep" and not owner:
        problems.append({"field": "owner", "message": "a rep works as a CRM owner: give the owner name"})
    if len(password) < MIN_PASSWORD:
        problems.append({"field": "password", "message": f"at least {MIN_PASSWORD} characters"})
    if conn.execute(select(t.users.c.username).where(t.users.c.username == username)).first():
        problems.append({"field": "username", "message": f"{username!r} exists already"})
    if problems:
        raise InvalidInput("the user cannot be added", problems)
    conn.execute(
        t.users.insert(),
        {
            "username": username,
            "password_hash": hash_password(password),
            "role": role,
            "owner": owner,
            "created_at": now,
        },
    )


def set_password(conn: Connection, username: str, password: str) -> None:
    """A new password for a user: the old one, and every session signed in with it, stop working."""
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append({"field": "password", "message": f"at least {MIN_PASSWORD} characters"})
    if not conn.execute(select(t.users.c.username).where(t.users.c.username == username)).first():
        problems.append({"field": "username", "message": f"no user {username!r}"})
    if problems:
        raise InvalidInput("the password cannot be changed", problems)
    conn.execute(
        t.users.update().where(t.users.c.username == username).values(password_hash=hash_password(password))
    )


def remove(conn: Connection, username: str) -> bool:
    """Remove a user; False when there was none."""
    return conn.execute(t.users.delete().where(t.users.c.username == username)).rowcount > 0


_DUMMY: list[str] = []


def _dummy() -> str:
    """A hash to check unknown names against, so that they cost what a wrong password costs."""
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_hex(16)))
    return _DUMMY[0]


def authenticate(conn: Connection, username: str, password: str) -> dict | None:
    """The user when the password is theirs, else None (the same work either way: no user probing)."""
    row = conn.execute(select(t.users).where(t.users.c.username == username)).first()
    stored = row.password_hash if row else _dummy()
    ok = check_password(password, stored)
    if row is None or not ok:
        return None
    return {"username": row.username, "role": row.role, "owner": row.owner, "key": stamp(row.password_hash)}


def stamp(password_hash: str) -> str:
    """A short fingerprint of the stored hash: a session carries it, so that a changed password or a
    removed user ends every session at once."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def still_valid(conn: Connection, session: dict) -> dict | None:
    """The user as stored now, when the session's user still exists with the same password."""
    row = conn.execute(select(t.users).where(t.users.c.username == session.get("username"))).first()
    if row is None or not hmac.compare_digest(stamp(row.password_hash), str(session.get("key", ""))):
        return None
    return {**session, "role": row.role, "owner": row.owner}

"""Workspace users: scrypt hashes, every problem at once, sessions ended by a new password."""

import pytest

from funnelcast.book import users
from funnelcast.book.db import engine_for, migrate
from funnelcast.core.errors import InvalidInput

NOW = "2026-01-01T00:00:00Z"


@pytest.fixture
def conn(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'book.db'}")
    migrate(engine)
    with engine.begin() as c:
        yield c


def test_a_password_is_stored_salted_and_checked(conn):
    users.add(conn, "李娜", "correct horse", "manager", None, NOW)
    users.add(conn, "wang", "correct horse", "rep", "王芳", NOW)
    hashes = [h for (h,) in conn.exec_driver_sql("SELECT password_hash FROM users").all()]
    assert all(h.startswith("scrypt$") and "correct horse" not in h for h in hashes)
    assert hashes[0] != hashes[1]  # same password, different salts
    assert users.authenticate(conn, "李娜", "correct horse")["role"] == "manager"
    assert users.authenticate(conn, "wang", "correct horse")["owner"] == "王芳"
    assert users.authenticate(conn, "李娜", "correct horsE") is None
    assert users.authenticate(conn, "nobody", "correct horse") is None


def test_every_problem_of_a_new_user_is_named_at_once(conn):
    with pytest.raises(InvalidInput) as err:
        users.add(conn, "bad name!", "short", "rep", None, NOW)
    fields = sorted(p["field"] for p in err.value.details)
    assert fields == ["owner", "password", "username"]
    users.add(conn, "ok", "long enough pw", "manager", None, NOW)
    with pytest.raises(InvalidInput, match="cannot be added"):
        users.add(conn, "ok", "long enough pw", "nobody", None, NOW)


def test_a_new_password_or_removal_invalidates_the_session_stamp(conn):
    users.add(conn, "rep", "first password!", "rep", "张伟", NOW)
    session = users.authenticate(conn, "rep", "first password!")
    assert users.still_valid(conn, session)["owner"] == "张伟"
    users.set_password(conn, "rep", "second password")
    assert users.still_valid(conn, session) is None
    assert users.authenticate(conn, "rep", "first password!") is None
    session = users.authenticate(conn, "rep", "second password")
    assert users.still_valid(conn, session) is not None
    assert users.remove(conn, "rep") and not users.remove(conn, "rep")
    assert users.still_valid(conn, session) is None
    with pytest.raises(InvalidInput) as err:
        users.set_password(conn, "rep", "x")
    assert sorted(p["field"] for p in err.value.details) == ["password", "username"]

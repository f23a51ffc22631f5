"""`funnelcast users` as an admin runs it: add, list, a new password, remove; problems named, exit 2."""

import os
import subprocess
import sys
from pathlib import Path

FUNNELCAST = str(Path(sys.executable).with_name("funnelcast"))


def run(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "FUNNELCAST_HOME": str(home)}
    env.pop("FUNNELCAST_DATABASE_URL", None)
    return subprocess.run(
        [FUNNELCAST, "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        env=env,
    )


def test_users_are_added_listed_changed_and_removed(tmp_path):
    added = run(
        "add", "李娜", "--role", "manager", "--password-stdin", home=tmp_path, stdin="a long password\n"
    )
    assert added.returncode == 0, added.stderr
    rep = run("add", "wang", "--owner", "王芳", "--password-stdin", home=tmp_path, stdin="another password\n")
    assert rep.returncode == 0, rep.stderr
    listed = run("list", home=tmp_path)
    assert [line.split() for line in listed.stdout.splitlines()] == [
        ["wang", "rep", "王芳"],
        ["李娜", "manager"],
    ]
    bad = run("add", "x y", "--password-stdin", home=tmp_path, stdin="short\n")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    for field in ("username", "owner", "password"):
        assert field in bad.stderr
    assert (
        run("password", "wang", "--password-stdin", home=tmp_path, stdin="a third password\n").returncode == 0
    )
    assert run("remove", "wang", home=tmp_path).returncode == 0
    gone = run("remove", "wang", home=tmp_path)
    assert gone.returncode == 2 and "no user 'wang'" in gone.stderr
    assert run("list", home=tmp_path).stdout.split() == ["李娜", "manager"]

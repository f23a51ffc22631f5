"""The command line as a user runs it: a real subprocess of the installed console script."""

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

FUNNELCAST = str(Path(sys.executable).with_name("funnelcast"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([FUNNELCAST, *args], capture_output=True, text=True, encoding="utf-8", timeout=300)


def test_generate_twice_is_identical_and_validates(tmp_path):
    for name in ("A", "B"):
        done = run("generate", "--out", str(tmp_path / name), "--leads", "5000", "--seed", "7")
        assert done.returncode == 0, done.stderr
    names = [p.name for p in (tmp_path / "A").glob("*.csv")]
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "A", tmp_path / "B", names, shallow=False)
    assert len(names) == 7 and mismatch == [] and errors == []
    ok = run("validate", str(tmp_path / "A"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "valid" in ok.stdout


def test_validate_lists_every_problem_and_fails(data_dir, tmp_path):
    d = tmp_path / "bad"
    shutil.copytree(data_dir, d)
    opps = pd.read_csv(d / "opportunities.csv", dtype=str, keep_default_na=False)
    opps.loc[0, "amount"] = "-10"
    opps.loc[1, "created_at"] = "yesterday"
    opps.to_csv(d / "opportunities.csv", index=False)
    done = run("validate", str(d))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert "opportunities.csv row 2, column amount: must be >= 0, got -10 [non_negative]" in lines
    assert (
        "opportunities.csv row 3, column created_at: unparseable timestamp 'yesterday' (expected ISO 8601) "
        "[timestamp]" in lines
    )
    assert "Traceback" not in done.stderr


def test_missing_directory_is_a_clear_error(tmp_path):
    done = run("validate", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert "data directory not found" in done.stdout
    assert "Traceback" not in done.stderr


def test_bad_config_dir_is_a_clear_error(tmp_path):
    done = run("validate", str(tmp_path), "--config-dir", str(tmp_path))
    assert done.returncode == 2
    assert "configuration file not found" in done.stderr and "Traceback" not in done.stderr

"""`funnelcast score` as a user runs it: where the state is, what --as-of means, what it writes."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

FUNNELCAST = str(Path(sys.executable).with_name("funnelcast"))


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FUNNELCAST_HOME": str(home), "FUNNELCAST_RULES_ONLY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [FUNNELCAST, *args], capture_output=True, text=True, encoding="utf-8", timeout=300, env=env
    )


def test_as_of_defaults_to_the_data_and_a_later_one_is_warned_about(data_dir, tmp_path):
    out = tmp_path / "scored.csv"
    done = run("score", "leads", "--data", str(data_dir), "--out", str(out), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "as of the data's last event" in done.stdout and "warning" not in done.stderr
    table = pd.read_csv(out)
    assert {"lead_id", "company", "owner", "source", "grade"} <= set(table.columns)
    later = run(
        "score", "leads", "--data", str(data_dir), "--out", str(out), "--as-of", "2030-01-01", home=tmp_path
    )
    assert later.returncode == 0, later.stderr
    assert "--as-of 2030-01-01T00:00:00+00:00 is after the data's last event" in " ".join(
        later.stderr.split()
    )


def test_an_output_that_is_neither_csv_nor_parquet_is_refused(data_dir, tmp_path):
    done = run("score", "leads", "--data", str(data_dir), "--out", str(tmp_path / "x.txt"), home=tmp_path)
    assert done.returncode == 2 and "expected a .csv or .parquet file" in done.stderr
    assert not (tmp_path / "x.txt").exists()

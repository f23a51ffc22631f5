"""`funnelcast forecast` from the command line: files written, UTF-8, clear errors."""

from __future__ import annotations

import json
import os
import subprocess

from servers import BIN


def run(args, env=None, timeout=300):
    return subprocess.run(
        [str(BIN / "funnelcast"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_forecast_without_a_model_uses_historical_rates(data_dir, tmp_path):
    env = {"FUNNELCAST_MODEL_SOURCE": "local", "FUNNELCAST_MODELS_DIR": str(tmp_path / "no-models")}
    out = tmp_path / "fc"
    done = run(
        [
            "forecast",
            "--data",
            str(data_dir),
            "--as-of",
            "2025-07-01",
            "--period-end",
            "2025-09-30",
            "--out",
            str(out),
            "--target",
            "5000000",
            "--by",
            "pipeline",
        ],
        env,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads((out / "forecast.json").read_text(encoding="utf-8"))
    assert body["distribution"]["method"] == "historical" and body["distribution"]["draws"] == 10_000
    assert set(body["expected"]) == {"stage_weighted", "stage_weighted_in_period", "historical"}
    assert body["distribution"]["p10"] <= body["distribution"]["p50"] <= body["distribution"]["p90"]
    assert 0 <= body["p_reaching_target"] <= 1 and {g["pipeline"] for g in body["by_group"]} <= {
        "default",
        "saas",
    }
    assert (out / "forecast.png").stat().st_size > 10_000 and "no win-probability model" in done.stdout


def test_forecast_rejects_a_period_that_ends_before_it_starts(data_dir, tmp_path):
    done = run(
        [
            "forecast",
            "--data",
            str(data_dir),
            "--as-of",
            "2025-07-01",
            "--period-end",
            "2025-06-01",
            "--out",
            str(tmp_path),
        ]
    )
    assert done.returncode != 0 and "--period-end" in done.stderr and "Traceback" not in done.stderr
    done = run(
        [
            "forecast",
            "--data",
            str(data_dir),
            "--as-of",
            "next tuesday",
            "--period-end",
            "2025-06-01",
            "--out",
            str(tmp_path),
        ]
    )
    assert done.returncode != 0 and "not an ISO 8601" in done.stderr

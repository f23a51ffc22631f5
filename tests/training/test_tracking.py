"""The MLflow side, with real parts: a sqlite tracking store and registry, `mlflow models serve`,
an `mlflow server` on loopback, and a training process killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from servers import BIN, child_env, free_port, stop, wait_http

from funnelcast.features.frames import build_lead_features
from funnelcast.training.promote import promote
from funnelcast.training.register import item_rows, register
from funnelcast.training.tracking import REGISTERED, alias_version, client
from funnelcast.training.train import train_model

LEAD = REGISTERED["lead"]


@pytest.fixture(scope="module")
def store(tmp_path_factory, lead_outcome, d20_data, config):
    """A sqlite store with the lead model registered and promoted to champion."""
    root = tmp_path_factory.mktemp("mlflow")
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    data, report = d20_data
    register(lead_outcome, data, report.files, config)
    decision = promote("lead", config, models_dir=root / "models")
    assert decision.promoted and decision.export_dir == root / "models" / LEAD
    yield {"root": root, "uri": os.environ["MLFLOW_TRACKING_URI"], "version": lead_outcome.version}
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


def test_run_logs_lineage_metrics_and_plots(store, lead_outcome):
    run = client().get_run(lead_outcome.run_id)
    assert run.data.tags["feature_set"] == "lead_v1"
    assert len(run.data.tags["git_commit"]) >= 7 and len(run.data.tags["data.sha256"]) == 16
    assert (
        run.data.metrics["test.converted.model.roc_auc"]
        > run.data.metrics["test.converted.bant_rule_grade.roc_auc"]
    )
    assert "threshold.hot" in run.data.params and run.data.params["chosen.converted"] in (
        "lightgbm",
        "logistic_regression",
    )
    artifacts = {a.path for a in client().list_artifacts(lead_outcome.run_id, "plots")}
    assert {
        "plots/calibration.png",
        "plots/cumulative_gains.png",
        "plots/feature_importance.png",
        "plots/conversion_by_grade.png",
    } <= artifacts
    assert (store["root"] / "models" / LEAD / "model_card.json").is_file()
    assert not Path("mlruns").exists()  # nothing written to the working directory


def test_champion_pyfunc_scores_the_api_items_like_the_batch_path(store, d20_data, config, lead_outcome):
    """The registered pyfunc takes the API's lead items and returns the bulk columns with reasons."""
    data = d20_data[0]
    model = mlflow.pyfunc.load_model(f"models:/{LEAD}@champion")
    ids = lead_outcome.test_frame["lead_id"].drop_duplicates().head(6).tolist()
    as_of = pd.Timestamp("2025-09-01T12:00:00Z")
    rows = item_rows(data, "lead", ids, as_of)
    assert list(rows.columns) == ["lead", "activities", "account", "account_activities", "as_of"]
    served = model.predict(rows)
    assert (served["problems"] == "").all()
    ids = [item["lead_id"] for item in rows["lead"]]
    assert served["lead_id"].tolist() == ids
    feats = build_lead_features(data, pd.DataFrame({"lead_id": ids, "as_of": as_of}), config)
    batch = lead_outcome.bundle.predict(feats)["converted"].to_numpy()
    # the pyfunc reports probabilities as bulk scoring and the API do: to six decimals
    np.testing.assert_allclose(served["probability"].to_numpy(), batch, rtol=0, atol=5e-7)
    assert set(served["grade"]) <= {"Hot", "Warm", "Cold"}
    said = json.loads(served["reasons"].iloc[0])
    assert said["positive"] and {"feature", "value", "contribution", "text"} <= set(said["positive"][0])
    assert served["reasons_up"].iloc[0] == "; ".join(r["text"] for r in said["positive"])


def test_the_signature_types_numbers_and_texts(store):
    from mlflow.models import get_model_info

    info = get_model_info(f"models:/{LEAD}@champion")
    inputs = {c.name: c for c in info.signature.inputs.inputs}
    lead = {p.name: p for p in inputs["lead"].type.properties}
    assert lead["budget_amount"].dtype.name == "double" and lead["lead_id"].dtype.name == "string"
    assert lead["lead_id"].required and lead["created_at"].required and not lead["source"].required
    outputs = {c.name: c.type.name for c in info.signature.outputs.inputs}
    assert outputs["lead_id"] == outputs["grade"] == outputs["rule_grade"] == outputs["problems"] == "string"
    assert outputs["probability"] == "double" and outputs["stale"] == "boolean"


def test_a_worse_challenger_is_not_promoted(store, d20_data, config):
    weak = config.model_copy(
        update={
            "training": config.training.model_copy(
                update={
                    "lightgbm": config.training.lightgbm.model_copy(
                        update={"n_estimators": 1, "num_leaves": 2}
                    ),
                    "logistic_regression": config.training.logistic_regression.model_copy(update={"C": 1e-6}),
                }
            )
        }
    )
    data, report = d20_data
    worse = register(train_model("lead", data, weak), data, report.files, weak)
    assert alias_version(LEAD, "challenger") == worse.version
    decision = promote("lead", config, models_dir=store["root"] / "models")
    assert not decision.promoted and "below the champion" in decision.reason
    assert alias_version(LEAD, "champion") == store["version"]


def test_mlflow_models_serve_answers_invocations(store, d20_data, lead_outcome):
    port = free_port()
    env = child_env(MLFLOW_TRACKING_URI=store["uri"])
    proc = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            f"models:/{LEAD}@champion",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", 180, proc)
        items = item_rows(
            d20_data[0],
            "lead",
            lead_outcome.test_frame["lead_id"].drop_duplicates().head(3).tolist(),
            pd.Timestamp("2025-09-01T12:00:00Z"),
        ).to_dict(orient="records")
        # the API's items, as a CRM sends them to POST /v1/leads/score
        reply = httpx.post(
            f"http://127.0.0.1:{port}/invocations", json={"dataframe_records": items}, timeout=60
        )
        assert reply.status_code == 200, reply.text
        predictions = reply.json()["predictions"]
        assert len(predictions) == 3 and all(p["problems"] == "" for p in predictions)
        assert all(0 <= p["probability"] <= 1 and p["grade"] in ("Hot", "Warm", "Cold") for p in predictions)
        assert all(json.loads(p["reasons"])["positive"] for p in predictions)
        # a record that breaks a rule: that row says why, the others are scored, no stack trace
        broken = [dict(items[0], lead={**items[0]["lead"], "created_at": "31/02/2025"}), items[1]]
        reply = httpx.post(
            f"http://127.0.0.1:{port}/invocations", json={"dataframe_records": broken}, timeout=60
        )
        assert reply.status_code == 200, reply.text
        first, second = reply.json()["predictions"]
        assert first["problems"].startswith("lead, created_at: unparseable") and first["probability"] is None
        assert second["problems"] == "" and second["probability"] is not None
        # a body that does not fit the signature: a 400 that says what, without a stack trace
        reply = httpx.post(
            f"http://127.0.0.1:{port}/invocations", json={"dataframe_records": [{"lead": "not an object"}]}
        )
        assert reply.status_code == 400
        assert "stack_trace" not in reply.json() and "Traceback" not in reply.text
    finally:
        stop(proc)


# where a training is killed: once fitted (nothing logged yet), once the version is registered (before
# its alias moves), and while MLflow logs the model inside the run (last: each start closes the runs
# earlier kills left open, so the last one is still RUNNING to see); each after a seeded random delay
KILL_AFTER = ("validation ROC AUC", "Created version", "Validating input example")


def test_training_killed_at_any_moment_leaves_the_registry_usable(store, d20, config):
    """Chaos (issue 19): SIGKILL `funnelcast train` at three moments. The champion never moves, every
    registered version still loads, and the next start closes the runs the killed processes left
    RUNNING."""
    from funnelcast.model.store import load_registered_bundle
    from funnelcast.training.tracking import use_store

    rng = np.random.default_rng(19)
    champion = alias_version(LEAD, "champion")
    env = child_env(MLFLOW_TRACKING_URI=store["uri"], FUNNELCAST_MODELS_DIR=str(store["root"] / "models"))
    for marker in KILL_AFTER:
        proc = subprocess.Popen(
            [str(BIN / "funnelcast"), "train", "leads", "--data", str(d20)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        seen = False
        for line in proc.stderr:
            if marker in line:
                seen = True
                time.sleep(float(rng.uniform(0, 0.3)))
                os.killpg(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=300)
        assert seen and proc.returncode == -signal.SIGKILL, marker
        assert alias_version(LEAD, "champion") == champion, marker
        for version in client().search_model_versions(f"name='{LEAD}'"):
            bundle, _ = load_registered_bundle(client(), LEAD, str(version.version))
            assert bundle.kind == "lead", (marker, version.version)
    card = store["root"] / "models" / LEAD / "model_card.json"
    assert f'"version": "{champion}"' in card.read_text(encoding="utf-8")
    experiment = mlflow.get_experiment_by_name(config.training.experiment).experiment_id
    running = client().search_runs([experiment], filter_string="attributes.status = 'RUNNING'")
    assert running, "a process killed inside its run leaves it RUNNING until the next start"
    use_store(config.training.experiment)  # what the next `funnelcast train` does first
    assert not client().search_runs([experiment], filter_string="attributes.status = 'RUNNING'")
    killed = client().search_runs([experiment], filter_string="attributes.status = 'KILLED'")
    assert {r.info.run_id for r in running} <= {r.info.run_id for r in killed}


def test_training_against_a_real_mlflow_server(tmp_path, opportunity_outcome, d20_data, config):
    port = free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 's.db'}",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    old = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 120, proc)
        os.environ["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{port}"
        data, report = d20_data
        done = register(opportunity_outcome, data, report.files, config)
        name = REGISTERED["opportunity"]
        assert alias_version(name, "challenger") == done.version
        model = mlflow.pyfunc.load_model(f"models:/{name}@challenger")
        ids = opportunity_outcome.test_frame["opportunity_id"].head(3).tolist()
        out = model.predict(item_rows(data, "opportunity", ids, pd.Timestamp("2025-08-01T00:00:00Z")))
        assert {"p_won", "p_won_30d", "p_won_60d", "p_won_90d"} <= set(out.columns)
        assert (out["p_won_30d"] <= out["p_won"]).all()
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old
        stop(proc)

"""Lineage a data scientist can rely on (issue 18), read back with MlflowClient from a real sqlite store:
datasets, git tags, descriptions, candidates as child runs; no contact name in any artifact; rollback
recorded on the versions and picked up by a running server."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from servers import start_server, stop, wait_ready

from funnelcast.training.promote import promote, rollback
from funnelcast.training.register import register
from funnelcast.training.tracking import REGISTERED, alias_version, client
from funnelcast.training.train import train_model

LEAD = REGISTERED["lead"]
ADMIN, SCORING = "lineage-admin-key", "lineage-scoring-key"


@pytest.fixture(scope="module")
def store(tmp_path_factory, lead_outcome, opportunity_outcome, d20_data, config):
    """Both models registered and promoted in a store of this module's own (a server is ready only
    with both). The outcomes are shared by the session: their run ids are put back afterwards."""
    root = tmp_path_factory.mktemp("lineage")
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    data, report = d20_data
    before = [(o.run_id, o.version) for o in (lead_outcome, opportunity_outcome)]
    register(opportunity_outcome, data, report.files, config)
    assert promote("opportunity", config, models_dir=root / "models").promoted
    register(lead_outcome, data, report.files, config)
    assert promote("lead", config, models_dir=root / "models").promoted
    mine = {"run_id": lead_outcome.run_id, "version": lead_outcome.version}
    for outcome, (run_id, version) in zip((lead_outcome, opportunity_outcome), before, strict=True):
        outcome.run_id, outcome.version = run_id, version
    yield {"root": root, "uri": os.environ["MLFLOW_TRACKING_URI"], **mine}
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


def test_the_run_names_its_data_code_and_candidates(store, lead_outcome):
    c = client()
    run = c.get_run(store["run_id"])
    contexts = {}
    for item in run.inputs.dataset_inputs:
        context = {t.key: t.value for t in item.tags}["mlflow.data.context"]
        contexts[context] = item.dataset
    assert set(contexts) == {"training", "testing"}
    test = contexts["testing"]
    assert json.loads(test.profile)["num_rows"] == len(lead_outcome.test_frame)
    assert test.digest and "lead_age_days" in test.schema and test.source
    assert json.loads(contexts["training"].profile)["num_rows"] > json.loads(test.profile)["num_rows"]
    tags = run.data.tags
    assert re.fullmatch(r"[0-9a-f]{40}", tags["mlflow.source.git.commit"])
    assert "ROC AUC" in tags["mlflow.note.content"] and "bant" in tags["mlflow.note.content"].lower()
    children = c.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    algorithms = {r.data.params["algorithm"] for r in children}
    assert algorithms == {"lightgbm", "logistic_regression"}
    chosen = [r for r in children if r.data.tags["chosen"] == "true"]
    assert len(chosen) == 1 and chosen[0].data.params["algorithm"] == run.data.params["chosen.converted"]
    assert all("validation.roc_auc" in r.data.metrics for r in children)
    model = c.get_registered_model(LEAD)
    assert "Hot / Warm / Cold" in model.description
    version = c.get_model_version(LEAD, store["version"])
    assert "data until" in version.description and "ROC AUC" in version.description


def _names(data) -> re.Pattern:
    names = sorted({n for n in data.leads["contact_name"].dropna() if len(n) >= 2}, key=len, reverse=True)
    assert len(names) > 100
    return re.compile("|".join(re.escape(n) for n in names))


def test_no_artifact_holds_a_contact_name(store, lead_outcome, d20_data):
    """The input example, the golden rows, the test set, tables and the logged model: none carries a
    contact name, email or phone of the training data."""
    data = d20_data[0]
    pattern = _names(data)
    emails = set(data.leads["contact_email"].dropna()) if "contact_email" in data.leads else set()
    c = client()
    run = c.get_run(store["run_id"])
    with tempfile.TemporaryDirectory() as tmp:
        import mlflow

        local = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=tmp))
        version = c.get_model_version(LEAD, store["version"])
        model_dir = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=version.source, dst_path=str(Path(tmp) / "model")
            )
        )
        # every artifact but the model's own source code (its docstrings hold made-up example names)
        files = [
            p
            for p in [*local.rglob("*"), *model_dir.rglob("*")]
            if p.is_file() and "code" not in p.relative_to(tmp).parts and p.suffix != ".py"
        ]
        assert any(p.name == "input_example.json" for p in files) and any(
            p.name == "golden.json" for p in files
        )
        for path in files:
            if path.suffix == ".parquet":
                frame = pd.read_parquet(path)
                texts = frame.select_dtypes(include=["object", "string"]).to_numpy().ravel()
                text = "\n".join(str(v) for v in texts)
                assert not {"contact_name", "contact_email", "contact_phone"} & set(frame.columns), path
            else:
                text = path.read_bytes().decode("utf-8", errors="ignore")
            found = pattern.search(text)
            assert found is None, f"{path.name} holds the contact name {found.group(0)!r}"
            assert not any(e in text for e in emails), path.name


def test_rollback_is_checked_recorded_and_served(store, d20_data, config, tmp_path):
    data, report = d20_data
    second = register(train_model("lead", data, config), data, report.files, config)
    first = store["version"]
    decision = promote(
        "lead", config, models_dir=store["root"] / "models", version=second.version, reason="try v2"
    )
    assert decision.promoted and alias_version(LEAD, "champion") == second.version
    env = {
        "MLFLOW_TRACKING_URI": store["uri"],
        "FUNNELCAST_MODEL_SOURCE": "registry",
        "FUNNELCAST_ADMIN_KEYS": ADMIN,
        "FUNNELCAST_API_KEYS": SCORING,
        "FUNNELCAST_BOOK": "false",
    }
    proc, url, _ = start_server(env, tmp_path)
    try:
        wait_ready(url)
        assert _served_version(url) == second.version
        back = rollback("lead", config, reason="field complaints", models_dir=store["root"] / "models")
        assert back.promoted and alias_version(LEAD, "champion") == first
        reply = httpx.post(f"{url}/v1/admin/reload", headers={"X-API-Key": ADMIN}, timeout=120)
        assert reply.status_code == 200, reply.text
        assert _served_version(url) == first
    finally:
        stop(proc)
    tags = client().get_model_version(LEAD, first).tags
    assert tags["champion_move"] == "rollback" and tags["champion_reason"] == "field complaints"
    assert tags["previous_champion"] == second.version and tags["champion_since"].endswith("Z")
    history = json.loads(client().get_registered_model(LEAD).tags["champion_history"])
    assert [h["version"] for h in history][-3:] == [first, second.version, first]
    assert [h["move"] for h in history][-2:] == ["rollback", "rollback"]


def _served_version(url: str, timeout: float = 90) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            models = httpx.get(f"{url}/v1/models", headers={"X-API-Key": SCORING}, timeout=5).json()["models"]
        except httpx.HTTPError:
            models = []
        found = [m for m in models if m and m.get("kind") == "lead"]
        if found:
            return str(found[0]["version"])
        time.sleep(0.3)
    return None

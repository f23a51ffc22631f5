"""Where a bundle lives: in an MLflow run (logged by training) and in a local export (promotion)."""

from __future__ import annotations

from funnelcast.model.bundle import ModelBundle

BUNDLE_ARTIFACT = "model/artifacts/bundle.joblib"  # where training logs the bundle inside a run


def load_registered_bundle(client, name: str, version: str) -> tuple[ModelBundle, str]:
    """The bundle of a registered model version, and the run that logged it."""
    import tempfile

    import joblib

    run_id = client.get_model_version(name, version).run_id
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run_id, BUNDLE_ARTIFACT, tmp)
        return joblib.load(path), run_id

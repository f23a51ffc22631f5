"""Where a bundle lives: in an MLflow run (logged by training) and in a local export (promotion)."""

from __future__ import annotations

from funnelcast.model.bundle import ModelBundle

BUNDLE_ARTIFACT = "artifacts/bundle.joblib"  # where training logs the bundle inside the logged model


def load_registered_bundle(client, name: str, version: str) -> tuple[ModelBundle, str]:
    """The bundle of a registered model version, and the run that logged it.

    Read from the artifact location of the version's logged model (MLflow 3: source `models:/<model
    id>`) with the client's tracking URI passed on: resolving it through the run would look the logged
    model up in MLflow's process-wide default store, which is not this client's unless
    MLFLOW_TRACKING_URI happens to say so."""
    import tempfile

    import joblib
    from mlflow.artifacts import download_artifacts

    found = client.get_model_version(name, version)
    location = client.get_logged_model(found.source.removeprefix("models:/")).artifact_location
    with tempfile.TemporaryDirectory() as tmp:
        path = download_artifacts(
            artifact_uri=f"{location.rstrip('/')}/{BUNDLE_ARTIFACT}",
            dst_path=tmp,
            tracking_uri=client.tracking_uri,
        )
        return joblib.load(path), found.run_id

"""The loaded-model registry: the only state of the app.

A model is loaded (MLflow registry by alias, or the local export in models/), checked (feature set
known to this code, a golden prediction finite and in range) and only then swapped in with one
reference assignment. A request takes the current `LoadedModel` once and finishes on it, so a
reload never changes the model under a request in flight; a failed load leaves the old one serving.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from funnelcast.core import paths
from funnelcast.core.config import AppConfig
from funnelcast.core.errors import ModelMissing, ModelRejected, NotReady
from funnelcast.features.history import Rates
from funnelcast.features.sets import feature_set
from funnelcast.model.bundle import ModelBundle
from funnelcast.model.store import load_registered_bundle
from funnelcast.serving.models import KINDS, NAMES, LoadedModel
from funnelcast.serving.scoring.body import parse_deal_request, parse_lead_request
from funnelcast.serving.scoring.deals import score_opportunities
from funnelcast.serving.scoring.leads import score_leads
from funnelcast.serving.settings import ServingSettings

logger = logging.getLogger(__name__)
GOLDEN_AS_OF = pd.Timestamp("2025-02-01T00:00:00Z")


def golden_request(kind: str, config: AppConfig) -> dict:
    """A fixed, plausible request for the golden prediction check (not from any customer)."""
    pipeline = config.funnel.pipeline(config.funnel.default_pipeline)
    product = config.leads.products[0]
    if kind == "lead":
        return {
            "leads": [
                {
                    "lead": {
                        "lead_id": "golden",
                        "created_at": "2025-01-01T00:00:00Z",
                        "source": "webinar",
                        "contact_title": "IT Director",
                        "product_interest": product.key,
                        "budget_amount": product.price_min,
                        "budget_currency": config.leads.base_currency,
                        "timeline_horizon": config.leads.horizon_bands[0].key,
                    },
                    "activities": [
                        {"activity_id": "g1", "occurred_at": "2025-01-02T00:00:00Z", "type": "demo_request"}
                    ],
                }
            ]
        }
    return {
        "opportunities": [
            {
                "opportunity": {
                    "opportunity_id": "golden",
                    "account_id": "golden",
                    "owner": "golden",
                    "pipeline": pipeline.key,
                    "product": product.key,
                    "amount": 100000,
                    "currency": config.leads.base_currency,
                    "created_at": "2025-01-01T00:00:00Z",
                },
                "stage_history": [{"stage": pipeline.stages[0].key, "entered_at": "2025-01-01T00:00:00Z"}],
            }
        ]
    }


def golden_probabilities(model: LoadedModel, config: AppConfig) -> np.ndarray:
    """The model's probabilities for the golden request, through the same path as every request."""
    body = golden_request(model.kind, config)
    if model.kind == "lead":
        result = score_leads(parse_lead_request(json.dumps(body).encode()), model, config, GOLDEN_AS_OF)
        return np.array([r["probability"] for r in result.results], dtype=float)
    result = score_opportunities(parse_deal_request(json.dumps(body).encode()), model, config, GOLDEN_AS_OF)
    keys = ("p_won", "p_won_30d", "p_won_60d", "p_won_90d")
    return np.array([[r[k] for k in keys] for r in result.results], dtype=float)


class ModelRegistry:
    def __init__(self, settings: ServingSettings, config: AppConfig):
        self.settings = settings
        self.config = config
        self._models: dict[str, LoadedModel | None] = {k: None for k in KINDS}
        self._lock = threading.Lock()  # one reload at a time; readers never wait
        self.loading_done = False
        self.last_errors: dict[str, str] = {}
        self.last_results: dict[str, str] = {}  # kind -> swapped / unchanged / refused / missing

    # ------------------------------------------------------------------ reading
    def get(self, kind: str) -> LoadedModel | None:
        return self._models[kind]

    def scoring_model(self, kind: str) -> LoadedModel | None:
        """The model that scores `kind` now. Nothing is scored before /readyz says ready (every model
        loaded and checked, or the first load done in rules-only mode): until then, and for a kind
        without a model, scoring answers 503 rather than a lesser score. None only for leads in
        rules-only mode (they then get the BANT rule grade)."""
        model = self._models[kind]
        if self.ready and (model is not None or (kind == "lead" and self.settings.rules_only)):
            return model
        raise NotReady(
            f"the {kind} model is not loaded and checked yet"
            if self.ready or model is None
            else "the models are still loading",
            [{"field": "model", "message": self.last_errors.get(kind, "loading")}],
        )

    def state(self, kind: str) -> str:
        """loaded, loading (first load under way), missing (nothing to load) or refused (found, failed
        its checks): what /readyz may say without a key."""
        if self._models[kind] is not None:
            return "loaded"
        return self.last_results.get(kind, "loading") if self.loading_done else "loading"

    @property
    def ready(self) -> bool:
        if not self.loading_done:
            return False
        return self.settings.rules_only or all(self._models[k] is not None for k in KINDS)

    # ------------------------------------------------------------------ loading
    def load_all(self) -> list[dict]:
        results = [self.reload(kind) for kind in KINDS]
        self.loading_done = True
        return results

    def reload(self, kind: str) -> dict:
        """Load the current version for `kind`, check it, swap it in. Returns what happened."""
        with self._lock:
            current = self._models[kind]
            try:
                candidate = self._candidate(kind, current)
            except ModelRejected as exc:
                self.last_errors[kind] = str(exc)
                logger.warning("%s model not loaded: %s", kind, exc)
                result = "missing" if isinstance(exc, ModelMissing) else "refused"
                self.last_results[kind] = result
                return {
                    "kind": kind,
                    "result": result,
                    "version": current.version if current else None,
                    "message": str(exc),
                }
            if candidate is None:
                self.last_results[kind] = "unchanged"
                return {
                    "kind": kind,
                    "result": "unchanged",
                    "version": current.version if current else None,
                    "message": "already serving the current version",
                }
            self._models[kind] = candidate  # the swap: one reference assignment
            self.last_errors.pop(kind, None)
            self.last_results[kind] = "swapped"
            logger.info("serving %s version %s (%s)", candidate.name, candidate.version, candidate.source)
            return {
                "kind": kind,
                "result": "swapped",
                "version": candidate.version,
                "message": f"now serving version {candidate.version} from {candidate.source}",
            }

    def _candidate(self, kind: str, current: LoadedModel | None) -> LoadedModel | None:
        """In `auto` mode the local export stands in only where the registry has no model (no store, no
        alias): a registered version that fails to load or to pass its checks is refused, never
        silently replaced by an older export."""
        source = self.settings.model_source
        if source in ("registry", "auto"):
            try:
                return self._from_registry(kind, current)
            except ModelMissing as exc:
                if source == "registry":
                    raise
                registry_said = f"registry: {exc}"
        else:
            registry_said = None
        try:
            return self._from_local(kind, current)
        except ModelRejected as exc:
            said = f"{registry_said}; local: {exc}" if registry_said else str(exc)
            raise type(exc)(said) from None

    def _from_registry(self, kind: str, current: LoadedModel | None) -> LoadedModel | None:
        from mlflow import MlflowClient

        name, alias = NAMES[kind], self.settings.alias
        try:
            client = MlflowClient(tracking_uri=paths.tracking_uri())
            version = str(client.get_model_version_by_alias(name, alias).version)
        except Exception as exc:  # unreachable store, unknown model or alias
            raise ModelMissing(
                f"no model {name}@{alias} in the MLflow registry ({type(exc).__name__})"
            ) from None
        if current is not None and current.source == "registry" and current.version == version:
            return None
        try:
            bundle, _ = load_registered_bundle(client, name, version)
        except Exception as exc:
            raise ModelRejected(
                f"{name} version {version} could not be loaded: {type(exc).__name__}: {exc}"
            ) from None
        return self._checked(kind, bundle, version, alias, "registry")

    def _from_local(self, kind: str, current: LoadedModel | None) -> LoadedModel | None:
        folder = Path(self.settings.models_dir) / NAMES[kind]
        card_path, bundle_path = folder / "model_card.json", folder / "bundle.joblib"
        if not bundle_path.is_file():
            raise ModelMissing(f"no model export at {folder}")
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
            version = str(card.get("version"))
            if current is not None and current.source.startswith("local") and current.version == version:
                return None
            bundle = joblib.load(bundle_path)
        except Exception as exc:
            raise ModelRejected(
                f"export at {folder} could not be loaded: {type(exc).__name__}: {exc}"
            ) from None
        return self._checked(kind, bundle, version, card.get("alias"), f"local:{folder}")

    def _checked(self, kind: str, bundle, version: str, alias: str | None, source: str) -> LoadedModel:
        if not isinstance(bundle, ModelBundle) or bundle.kind != kind:
            raise ModelRejected(f"version {version} is not a Funnelcast {kind} model")
        try:
            feature_set(bundle.feature_set, self.config)
        except KeyError as exc:
            raise ModelRejected(str(exc)) from None
        rates = Rates.from_dict(bundle.rates) if bundle.rates else None
        loaded = LoadedModel(
            kind, NAMES[kind], version, alias, source, bundle, rates, pd.Timestamp.now(tz="UTC").isoformat()
        )
        try:
            probs = golden_probabilities(loaded, self.config)
        except Exception as exc:
            raise ModelRejected(
                f"version {version} failed its golden prediction: {type(exc).__name__}: {exc}"
            ) from None
        if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
            raise ModelRejected(f"version {version} golden prediction out of range: {probs.tolist()}")
        return loaded

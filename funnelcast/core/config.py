"""Typed configuration: the funnel (pipelines, stages, weights, SLAs) and lead scoring rules.

Loaded explicitly from YAML files in a configuration directory, validated at start-up, unknown keys
rejected. Nothing is read at import time. A missing file is an error, never a silent default.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from funnelcast.core.errors import ConfigError
from funnelcast.core.vocabulary import ACTIVITY_TYPES

CONFIG_DIR_ENV = "FUNNELCAST_CONFIG_DIR"
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- funnel.yaml
class StageConfig(_Strict):
    key: str = Field(min_length=1, description="Stage key as it appears in stage_history.stage")
    name: str | None = Field(default=None, description="Display name; defaults to the key")
    weight: Fraction = Field(description="Configured stage weight used by weighted forecasts (0..1)")
    sla_days: PositiveFloat | None = Field(default=None, description="Days a deal may stay before it is late")

    @property
    def display_name(self) -> str:
        return self.name or self.key


class PipelineConfig(_Strict):
    key: str = Field(min_length=1)
    name: str | None = None
    stages: list[StageConfig] = Field(min_length=1, description="Open stages, in funnel order")
    won_stage: StageConfig
    lost_stage: StageConfig

    @model_validator(mode="after")
    def _check(self) -> PipelineConfig:
        keys = [s.key for s in self.all_stages]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"pipeline {self.key!r}: stage keys must be unique, repeated: {dupes}")
        weights = [s.weight for s in self.stages]
        if any(b < a for a, b in zip(weights, weights[1:], strict=False)):
            raise ValueError(
                f"pipeline {self.key!r}: open stage weights must not decrease along the funnel, got {weights}"
            )
        if self.won_stage.weight != 1.0 or self.lost_stage.weight != 0.0:
            raise ValueError(f"pipeline {self.key!r}: won stage weight must be 1 and lost stage weight 0")
        return self

    @property
    def all_stages(self) -> list[StageConfig]:
        return [*self.stages, self.won_stage, self.lost_stage]

    @property
    def stage_keys(self) -> list[str]:
        return [s.key for s in self.all_stages]

    def stage_index(self, key: str) -> int:
        """Position of an open stage (0 = first); won is len(stages), lost is len(stages) + 1."""
        return self.stage_keys.index(key)


class HealthConfig(_Strict):
    """Deal-health rules: the bands of the 0-100 health score and when a risk flag is raised."""

    healthy_min: Annotated[float, Field(gt=0, lt=100)] = Field(
        60.0, description="Health at or above: healthy"
    )
    at_risk_min: Annotated[float, Field(gt=0, lt=100)] = Field(
        35.0, description="At or above (below healthy): at risk"
    )
    no_activity_days: PositiveFloat = Field(
        14.0, description="Days without activity that raise no_recent_activity"
    )
    close_date_pushes: Annotated[int, Field(ge=1)] = Field(
        2, description="Pushes of the close date that raise close_date_pushed"
    )
    single_contact_max: Annotated[int, Field(ge=0)] = Field(
        1, description="Engaged contacts at or below which single_contact is raised"
    )

    @model_validator(mode="after")
    def _check(self) -> HealthConfig:
        if self.at_risk_min >= self.healthy_min:
            raise ValueError(
                f"health: at_risk_min {self.at_risk_min} must be below healthy_min {self.healthy_min}"
            )
        return self


class HistoryConfig(_Strict):
    """Historical rates (owner, segment, stage win rates) used as deal features."""

    smoothing_deals: Annotated[float, Field(ge=0)] = Field(
        20.0,
        description="Pseudo-deals at the overall win rate added to every rate: small samples shrink "
        "towards it",
    )


class FunnelConfig(_Strict):
    default_pipeline: str
    pipelines: list[PipelineConfig] = Field(min_length=1)
    health: HealthConfig = HealthConfig()
    history: HistoryConfig = HistoryConfig()

    @model_validator(mode="after")
    def _check(self) -> FunnelConfig:
        keys = [p.key for p in self.pipelines]
        if len(set(keys)) != len(keys):
            raise ValueError(f"pipeline keys must be unique, got {keys}")
        if self.default_pipeline not in keys:
            raise ValueError(f"default_pipeline {self.default_pipeline!r} is not one of the pipelines {keys}")
        return self

    def pipeline(self, key: str) -> PipelineConfig:
        for p in self.pipelines:
            if p.key == key:
                return p
        raise KeyError(f"unknown pipeline {key!r}; configured: {[p.key for p in self.pipelines]}")

    @property
    def pipeline_keys(self) -> list[str]:
        return [p.key for p in self.pipelines]


# --------------------------------------------------------------------------- leads.yaml
class ProductConfig(_Strict):
    key: str = Field(min_length=1)
    name: str | None = None
    pipeline: str = Field(description="Pipeline a deal for this product runs in")
    price_min: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    price_max: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    needs: list[str] = Field(min_length=1, description="Declared needs this product answers")

    @model_validator(mode="after")
    def _check(self) -> ProductConfig:
        if self.price_max < self.price_min:
            raise ValueError(f"product {self.key!r}: price_max {self.price_max} < price_min {self.price_min}")
        return self


class BudgetBand(_Strict):
    key: str
    min: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    max: Annotated[float, Field(gt=0)] | None = None


class AuthorityRule(_Strict):
    level: Literal["executive", "vp", "director", "manager", "staff"]
    patterns: list[str] = Field(min_length=1, description="Case-insensitive substrings of a title or role")


class HorizonBand(_Strict):
    key: str
    days: Annotated[float, Field(gt=0)] = Field(description="Typical days until purchase for this band")


class RulePoints(_Strict):
    budget_known: float = 10
    budget_fits: float = 15
    authority: dict[Literal["executive", "vp", "director", "manager", "staff", "unknown"], float]
    need_matches: float = 20
    need_known: float = 5
    timeline_within_days: list[tuple[float, float]] = Field(
        description="[days, points] pairs: a purchase expected within `days` earns `points` (best pair wins)"
    )
    hot_min: float = Field(description="Points at or above which the rule grade is Hot")
    warm_min: float = Field(description="Points at or above which the rule grade is Warm")

    @model_validator(mode="after")
    def _check(self) -> RulePoints:
        if self.warm_min > self.hot_min:
            raise ValueError(f"rule grade: warm_min {self.warm_min} must not exceed hot_min {self.hot_min}")
        return self


class GradeConfig(_Strict):
    method: Literal["targets", "cutoffs"] = "targets"
    hot_lift: PositiveFloat = Field(
        3.0, description="targets: Hot converts at >= this multiple of the base rate"
    )
    cold_lift: PositiveFloat = Field(
        0.5, description="targets: Cold converts at <= this multiple of the base rate"
    )
    hot_cutoff: Fraction = Field(0.5, description="cutoffs: probability at or above which a lead is Hot")
    warm_cutoff: Fraction = Field(0.15, description="cutoffs: probability at or above which a lead is Warm")

    @model_validator(mode="after")
    def _check(self) -> GradeConfig:
        if self.cold_lift >= self.hot_lift:
            raise ValueError("grades: cold_lift must be below hot_lift")
        if self.warm_cutoff > self.hot_cutoff:
            raise ValueError("grades: warm_cutoff must not exceed hot_cutoff")
        return self


DEFAULT_ENGAGEMENT = {
    "web_visit": 1.0,
    "page_view": 0.5,
    "content_download": 4.0,
    "email_open": 1.0,
    "email_click": 3.0,
    "email_reply": 5.0,
    "form_submit": 6.0,
    "demo_request": 10.0,
    "webinar_attended": 5.0,
    "event_attended": 5.0,
    "call": 3.0,
    "meeting": 5.0,
    "proposal_sent": 0.0,
    "email_sent": 0.0,
}


class BehaviourConfig(_Strict):
    windows_days: list[Annotated[int, Field(gt=0)]] = [7, 30, 90]
    half_life_days: PositiveFloat = 14.0
    trend_window_days: Annotated[int, Field(gt=0)] = 14
    engagement_weights: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=lambda: dict(DEFAULT_ENGAGEMENT),
        description="What one activity of each type is worth in decayed engagement (types not listed: 0)",
    )

    @field_validator("engagement_weights")
    @classmethod
    def _known_types(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(ACTIVITY_TYPES))
        if unknown:
            raise ValueError(f"unknown activity types {unknown}; known: {sorted(ACTIVITY_TYPES)}")
        return v


class LeadsConfig(_Strict):
    horizon_days: Annotated[int, Field(gt=0)] = Field(90, description="Conversion label horizon H in days")
    base_currency: str = "CNY"
    currency_rates: dict[str, PositiveFloat] = Field(
        description="Units of base currency per unit of currency"
    )
    products: list[ProductConfig] = Field(min_length=1)
    budget_bands: list[BudgetBand] = Field(min_length=1)
    authority_rules: list[AuthorityRule] = Field(min_length=1, description="First matching rule wins")
    horizon_bands: list[HorizonBand] = Field(min_length=1)
    rule_grade: RulePoints
    grades: GradeConfig = GradeConfig()
    behaviour: BehaviourConfig = BehaviourConfig()

    @field_validator("currency_rates")
    @classmethod
    def _upper(cls, v: dict[str, float]) -> dict[str, float]:
        return {k.upper(): r for k, r in v.items()}

    @model_validator(mode="after")
    def _check(self) -> LeadsConfig:
        if self.base_currency not in self.currency_rates:
            raise ValueError(f"base_currency {self.base_currency!r} must have a rate in currency_rates")
        return self

    def product(self, key: str) -> ProductConfig:
        for p in self.products:
            if p.key == key:
                return p
        raise KeyError(f"unknown product {key!r}; configured: {[p.key for p in self.products]}")


# --------------------------------------------------------------------------- training.yaml
class SplitConfig(_Strict):
    train: Annotated[float, Field(gt=0, lt=1)] = 0.6
    validation: Annotated[float, Field(gt=0, lt=1)] = 0.2
    method: Literal["time", "stratified"] = Field(
        "time",
        description="time: by creation time (the honest default); stratified: a seeded random split per "
        "entity, stratified by the primary label, for data without real dates",
    )

    @model_validator(mode="after")
    def _check(self) -> SplitConfig:
        if self.train + self.validation >= 1:
            raise ValueError(
                f"split: train + validation must leave a test share, got {self.train + self.validation}"
            )
        return self


class LightGBMConfig(_Strict):
    n_estimators: Annotated[int, Field(gt=0)] = 600
    learning_rate: PositiveFloat = 0.1
    num_leaves: Annotated[int, Field(ge=2)] = 8
    max_depth: int = Field(
        3, description="-1: unlimited; per-row reasons cost trees x leaves x depth squared"
    )
    min_child_samples: Annotated[int, Field(ge=1)] = 40
    subsample: Fraction = 0.8
    colsample_bytree: Fraction = 0.8
    reg_lambda: Annotated[float, Field(ge=0)] = 1.0
    early_stopping_rounds: Annotated[int, Field(gt=0)] = 50


class LogisticConfig(_Strict):
    C: PositiveFloat = 0.5


class PromotionConfig(_Strict):
    max_auc_drop: Annotated[float, Field(ge=0)] = 0.005


class LeadSnapshotConfig(_Strict):
    """Lead training snapshots over the whole open life: at creation, and at each age of every
    `every_days` while the lead is open (not converted or disqualified), up to `max_age_days` and the
    end of the data, each kept with probability `age_sample_rate` whatever the lead's outcome (a choice
    that depended on the outcome, such as a fixed number per lead, would bias the rates by age)."""

    every_days: Annotated[int, Field(gt=0)] = 30
    max_age_days: Annotated[int, Field(gt=0)] = 730
    age_sample_rate: Fraction = Field(
        0.25,
        description="Share of the ages after creation kept (0: creation only, for data without real dates)",
    )


class LeakageConfig(_Strict):
    """The leakage report of every training: a feature far stronger than the rest is named with a warning;
    one above `block_auc` stops registration unless allowed."""

    block_auc: Annotated[float, Field(gt=0.5, le=1.0)] = Field(
        0.95, description="Single-feature ROC AUC that stops registration"
    )
    warn_auc: Annotated[float, Field(gt=0.5, le=1.0)] = Field(
        0.75, description="Single-feature ROC AUC that warns when the feature also stands out"
    )
    warn_margin: Annotated[float, Field(ge=0)] = Field(
        0.08, description="... by this much above the next strongest feature"
    )
    warn_gain_share: Fraction = Field(
        0.5, description="Warn as well when one feature carries this share of the model's total gain"
    )


class DriftConfig(_Strict):
    """Calibration in the large per test month: observed against predicted conversion."""

    max_odds_ratio: Annotated[float, Field(gt=1)] = Field(
        1.25,
        description="Warn when the observed odds over the predicted odds are above this (or below its "
        "inverse) ...",
    )
    min_rows: Annotated[int, Field(ge=1)] = Field(
        200, description="... in a month with at least this many rows"
    )
    z: PositiveFloat = Field(3.0, description="... and the gap exceeds this many binomial standard errors")


class GradeShareConfig(_Strict):
    min_share: Annotated[float, Field(gt=0, lt=0.34)] = Field(
        0.05, description="Each grade holds at least this share of validation leads when the data allows"
    )


class TrainingConfig(_Strict):
    seed: int = 42
    num_threads: Annotated[int, Field(ge=1)] = 1
    split: SplitConfig = SplitConfig()
    min_positive: Annotated[int, Field(ge=1)] = 200
    min_negative: Annotated[int, Field(ge=1)] = 200
    leakage: LeakageConfig = LeakageConfig()
    drift: DriftConfig = DriftConfig()
    grades: GradeShareConfig = GradeShareConfig()
    allow_leaky: list[str] = []
    include_leaky_attributes: bool = Field(
        False, description="Use custom attributes declared leaky as features"
    )
    lead_snapshots: LeadSnapshotConfig = LeadSnapshotConfig()
    stale_quantile: Fraction = Field(
        0.9,
        description="A lead older than this quantile of the days its segment's "
        "converted leads took to convert is stale",
    )
    lightgbm: LightGBMConfig = LightGBMConfig()
    logistic_regression: LogisticConfig = LogisticConfig()
    promotion: PromotionConfig = PromotionConfig()
    experiment: str = "funnelcast"


# --------------------------------------------------------------------------- reasons.yaml
Locale = Literal["en", "zh"]
LOCALE_ENV = "FUNNELCAST_LOCALE"


class Said(_Strict):
    """One sentence in each language."""

    en: str
    zh: str


class Phrase(_Strict):
    """How one feature's value reads (configs/reasons.yaml)."""

    kind: Literal[
        "count",
        "days",
        "flag",
        "category",
        "ratio",
        "percent",
        "money_log",
        "count_log",
        "minutes",
        "levels",
        "signed",
        "until",
    ]
    en: str | None = None
    zh: str | None = None
    zero: Said | None = None
    is_1: Said | None = None  # flags: said when the value is 1 (YAML would read `yes` / `no` as booleans)
    is_0: Said | None = None
    up: Said | None = None
    down: Said | None = None
    flat: Said | None = None
    ahead: Said | None = None
    past: Said | None = None
    levels: list[Said] | None = None
    unknown: Said | None = None
    offset: float = 0.0

    @model_validator(mode="after")
    def _complete(self) -> Phrase:
        needs = {
            "flag": ("is_1", "is_0"),
            "signed": ("up", "down", "flat"),
            "until": ("ahead", "past"),
            "levels": ("levels",),
        }.get(self.kind, ("en", "zh"))
        missing = [n for n in needs if getattr(self, n) is None]
        if missing:
            raise ValueError(f"a {self.kind} phrase needs {missing}")
        return self


class Family(Phrase):
    """A phrase for every feature whose name matches (`match`, a regular expression whose named groups
    `type` and `w` fill {type} and {w})."""

    match: str


class ReasonsConfig(_Strict):
    locale: Locale = "en"
    activity_types: dict[str, Said] = {}
    families: list[Family] = []
    phrases: dict[str, Phrase] = {}


class AppConfig(_Strict):
    """Everything read from a configuration directory."""

    funnel: FunnelConfig
    leads: LeadsConfig
    training: TrainingConfig = TrainingConfig()
    reasons: ReasonsConfig = ReasonsConfig()
    source_dir: str

    @model_validator(mode="after")
    def _check(self) -> AppConfig:
        unknown = sorted({p.pipeline for p in self.leads.products} - set(self.funnel.pipeline_keys))
        if unknown:
            raise ValueError(f"leads.yaml products name pipelines not in funnel.yaml: {unknown}")
        return self


def default_config_dir() -> Path:
    """The configuration directory: $FUNNELCAST_CONFIG_DIR, else the defaults shipped with the package
    (the project's `configs/`)."""
    env = os.environ.get(CONFIG_DIR_ENV)
    if env:
        return Path(env)
    return Path(str(resources.files("funnelcast.configs")))


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found (set {CONFIG_DIR_ENV} or --config-dir)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _format_validation(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: {exc.error_count()} problem(s):"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = (
            f" (got {err['input']!r})"
            if err["type"] != "missing" and not isinstance(err["input"], dict)
            else ""
        )
        lines.append(f"  {where}: {err['msg']}{got}")
    return "\n".join(lines)


def _validated(model: type[BaseModel], path: Path, data: dict) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(path, exc)) from None


def load_funnel_config(path: Path) -> FunnelConfig:
    """Read and validate a funnel.yaml file."""
    return _validated(FunnelConfig, path, _read_yaml(path))  # type: ignore[return-value]


def load_leads_config(path: Path) -> LeadsConfig:
    """Read and validate a leads.yaml file."""
    return _validated(LeadsConfig, path, _read_yaml(path))  # type: ignore[return-value]


def load_config(config_dir: Path | None = None) -> AppConfig:
    """Load `funnel.yaml`, `leads.yaml` and `training.yaml` from a configuration directory.

    `FUNNELCAST_THREADS` overrides `training.num_threads`.
    """
    directory = Path(config_dir) if config_dir else default_config_dir()
    funnel = load_funnel_config(directory / "funnel.yaml")
    leads = load_leads_config(directory / "leads.yaml")
    training_data = _read_yaml(directory / "training.yaml")
    if os.environ.get("FUNNELCAST_THREADS"):
        training_data["num_threads"] = os.environ["FUNNELCAST_THREADS"]
    training = _validated(TrainingConfig, directory / "training.yaml", training_data)
    reasons_path = directory / "reasons.yaml"  # optional: without it reasons read "<meaning>: <value>"
    reasons_data = _read_yaml(reasons_path) if reasons_path.is_file() else {}
    if os.environ.get(LOCALE_ENV):
        reasons_data["locale"] = os.environ[LOCALE_ENV]
    reasons = _validated(ReasonsConfig, reasons_path, reasons_data)
    try:
        return AppConfig(
            funnel=funnel, leads=leads, training=training, reasons=reasons, source_dir=str(directory)
        )
    except ValidationError as exc:
        raise ConfigError(_format_validation(directory, exc)) from None

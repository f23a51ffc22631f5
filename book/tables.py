"""The book's tables (SQLAlchemy Core). Columns follow the canonical data model
(`funnelcast.features.schema`); times are stored as UTC instants (`Instant`); custom attributes of a
record travel as JSON. Scores keep the API's answer as JSON beside the columns that are filtered and
sorted on, each with the index that serves its read. The migrations in `migrations/versions` create
exactly this (tested)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

metadata = MetaData()
JSON_VALUE = JSON().with_variant(JSONB(), "postgresql")  # JSONB: comparable (upserts skip equal rows)


def instant_text(value: str | None) -> str | None:
    """The form an Instant is read back in, of the book's text (`...:00Z`, or with microseconds when
    there are any): what a value read from the book is compared with."""
    if value is None or len(value) != 27:
        return value
    return value[:19] + "Z" if value[19:26] == ".000000" else value


class Instant(TypeDecorator):
    """A UTC instant, given and read back as ISO 8601 text (`2025-05-20T09:30:00Z`), as the API
    speaks it. PostgreSQL stores `timestamptz`; SQLite stores fixed-width text
    (`2025-05-20T09:30:00.000000Z`), which sorts as time does."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(27))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if (
            dialect.name == "sqlite"
            and isinstance(value, str)
            and len(value) in (20, 27)
            and value[-1] == "Z"
        ):
            if len(value) == 27 and value[19] == ".":  # already the stored form
                return value
            if value[10] == "T" and value[19] == "Z":  # the book's canonical text, whole seconds
                return value[:19] + ".000000Z"
        moment = _as_datetime(value)
        if dialect.name == "sqlite":
            return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return moment

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # SQLite: already the text, in the book's own fixed form
            return instant_text(value)
        moment = value.astimezone(UTC)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        return text + (f".{moment.microsecond:06d}Z" if moment.microsecond else "Z")


def _as_datetime(value) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip().replace("Z", "+00:00").replace(" ", "T", 1)
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _id(name: str, **kw) -> Column:
    return Column(name, String(128), **kw)


accounts = Table(
    "accounts",
    metadata,
    _id("account_id", primary_key=True),
    Column("name", Text, nullable=False),
    Column("industry", String(128)),
    Column("employees", Float),
    Column("annual_revenue", Float),
    Column("region", String(128)),
    Column("custom", JSON_VALUE),
    Column("updated_at", Instant, nullable=False),
)

leads = Table(
    "leads",
    metadata,
    _id("lead_id", primary_key=True),
    _id("account_id"),
    Column("company", Text),
    Column("industry", String(128)),
    Column("employees", Float),
    Column("region", String(128)),
    Column("created_at", Instant, nullable=False),
    Column("source", String(128), nullable=False),
    Column("owner", String(128)),
    Column("contact_name", Text),
    Column("contact_email", Text),
    Column("contact_phone", String(64)),
    Column("contact_title", Text),
    Column("contact_role", String(64)),
    Column("product_interest", String(128)),
    Column("need", String(128)),
    Column("budget_amount", Float),
    Column("budget_currency", String(16)),
    Column("budget_band", String(64)),
    Column("timeline_date", Instant),
    Column("timeline_horizon", String(64)),
    Column("converted_at", Instant),
    Column("disqualified_at", Instant),
    Column("disqualify_reason", String(64)),
    Column("custom", JSON_VALUE),
    Column("updated_at", Instant, nullable=False),
    Index("ix_leads_account", "account_id"),
    Index("ix_leads_created", "created_at", "lead_id"),
)

activities = Table(
    "activities",
    metadata,
    _id("activity_id", primary_key=True),
    Column("entity_type", String(16), nullable=False),
    _id("entity_id", nullable=False),
    Column("occurred_at", Instant, nullable=False),
    Column("type", String(64), nullable=False),
    Column("value", Float),
    _id("contact_id"),
    Column("contact_role", String(64)),
    # covering: a re-score reads an entity's activities from the index alone, in time order
    Index(
        "ix_activities_entity",
        "entity_type",
        "entity_id",
        "occurred_at",
        "activity_id",
        "type",
        "value",
        "contact_id",
        "contact_role",
    ),
)

opportunities = Table(
    "opportunities",
    metadata,
    _id("opportunity_id", primary_key=True),
    _id("lead_id"),
    _id("account_id", nullable=False),
    Column("owner", String(128), nullable=False),
    Column("pipeline", String(128), nullable=False),
    Column("product", String(128), nullable=False),
    Column("amount", Float, nullable=False),
    Column("currency", String(16), nullable=False),
    Column("created_at", Instant, nullable=False),
    Column("expected_close_date", Instant),
    Column("outcome", String(16), nullable=False),
    Column("closed_at", Instant),
    Column("loss_reason", String(64)),
    Column("custom", JSON_VALUE),
    Column("updated_at", Instant, nullable=False),
    Index("ix_opportunities_account", "account_id"),
    Index("ix_opportunities_owner", "owner"),
)

stage_history = Table(
    "stage_history",
    metadata,
    _id("opportunity_id", primary_key=True),
    Column("entered_at", Instant, primary_key=True),
    Column("stage", String(128), primary_key=True),
)

close_date_history = Table(
    "close_date_history",
    metadata,
    _id("opportunity_id", primary_key=True),
    Column("changed_at", Instant, primary_key=True),
    Column("expected_close_date", Instant, nullable=False),
)

amount_history = Table(
    "amount_history",
    metadata,
    _id("opportunity_id", primary_key=True),
    Column("changed_at", Instant, primary_key=True),
    Column("amount", Float, nullable=False),
)

# ---------------------------------------------------------------------------------------- scores
lead_scores = Table(
    "lead_scores",
    metadata,
    _id("lead_id", primary_key=True),
    Column("probability", Float),  # null: rule grade only (no model)
    Column("score", Float),
    Column("priority", Float, nullable=False),  # probability, else rule points / 100: the list's order
    Column("grade", String(8), nullable=False),
    Column("stale", Boolean, nullable=False),
    Column("owner", String(128)),  # copied from the lead: the list filters on them
    Column("source", String(128)),
    Column("grade_since", Instant, nullable=False),
    Column("as_of", Instant, nullable=False),  # the time the score is as of
    Column("scored_at", Instant, nullable=False),  # when it was computed
    Column("model_version", String(128)),
    Column("result", JSON_VALUE, nullable=False),  # the API's LeadScore
    Index("ix_lead_scores_priority", "priority", "lead_id"),
    Index("ix_lead_scores_grade", "grade", "priority", "lead_id"),
    Index("ix_lead_scores_owner", "owner", "priority", "lead_id"),
    Index("ix_lead_scores_source", "source", "priority", "lead_id"),
)

deal_scores = Table(
    "deal_scores",
    metadata,
    _id("opportunity_id", primary_key=True),
    Column("p_won", Float, nullable=False),
    Column("health_score", Float, nullable=False),
    Column("health", String(16), nullable=False),
    Column("priority", Float, nullable=False),  # risk x amount: the deal list's default order
    Column("n_flags", Integer, nullable=False),
    Column("owner", String(128)),
    Column("pipeline", String(128)),
    Column("stage", String(128)),
    Column("amount", Float),
    Column("health_since", Instant, nullable=False),
    Column("as_of", Instant, nullable=False),
    Column("scored_at", Instant, nullable=False),
    Column("model_version", String(128)),
    Column("result", JSON_VALUE, nullable=False),  # the API's OpportunityScore
    Index("ix_deal_scores_priority", "priority", "opportunity_id"),
    Index("ix_deal_scores_health", "health", "priority", "opportunity_id"),
    Index("ix_deal_scores_owner", "owner", "priority", "opportunity_id"),
)

# the book's clock: the time its newest scores are as of (the workspace's "as of"), advanced by every
# save; one row to read, where an index on lead_scores.as_of cost every re-score one more page to write
clock = Table(
    "clock",
    metadata,
    Column("name", String(32), primary_key=True),  # "scores"
    Column("as_of", Instant, nullable=False),
)

score_history = Table(
    "score_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # lead / opportunity
    _id("entity_id", nullable=False),
    Column("at", Instant, nullable=False),  # the as_of of the new score
    Column("from_grade", String(16)),  # grade (leads) or health band (deals); null for a first score
    Column("to_grade", String(16), nullable=False),
    Column("from_score", Float),
    Column("to_score", Float),
    Column("trigger", String(16), nullable=False),  # event / clock / model / first
    Column("cause", Text),  # the events, or the model version, that moved it
    Column("model_version", String(128)),
    Column("reasons", JSON_VALUE),
    Index("ix_score_history_entity", "kind", "entity_id", "id"),
)

# what still needs a score: written with the data in one transaction, removed with the new score
pending = Table(
    "pending",
    metadata,
    Column("kind", String(16), primary_key=True),
    _id("entity_id", primary_key=True),
    Column("since", Instant, nullable=False),
    Column("as_of", Instant),  # the time the ingestion asked to score as of (null: now)
    Column("cause", Text),
)

# ------------------------------------------------------------------------------ duplicate leads
match_keys = Table(  # what two records of one customer share (funnelcast.book.matching)
    "match_keys",
    metadata,
    Column("entity", String(16), primary_key=True),  # lead / account
    _id("entity_id", primary_key=True),
    Column("kind", String(16), primary_key=True),  # company / email_domain / phone
    Column("value", String(256), nullable=False),
    Index("ix_match_keys_value", "kind", "value"),
)

duplicates = Table(  # a lead and another open lead or an account of the same customer, and why
    "duplicates",
    metadata,
    _id("lead_id", primary_key=True),
    Column("other_entity", String(16), primary_key=True),
    _id("other_id", primary_key=True),
    Column("evidence", String(64), nullable=False),  # company+email_domain+phone
    Column("found_at", Instant, nullable=False),
    Index("ix_duplicates_other", "other_entity", "other_id"),
)

# ------------------------------------------------------------------------------ alerts
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", String(128), nullable=False),  # signs deliveries (HMAC-SHA256); shown once
    Column("kinds", JSON_VALUE, nullable=False),  # the alert kinds it wants
    Column("description", Text),
    Column("created_at", Instant, nullable=False),
)

deliveries = Table(  # the outbox: written with the change that raised the alert, sent in order per entity
    "deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("webhook_id", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("entity", String(16), nullable=False),
    _id("entity_id", nullable=False),
    Column("payload", JSON_VALUE, nullable=False),
    Column("created_at", Instant, nullable=False),
    Column("state", String(16), nullable=False),  # pending / delivered / failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Instant, nullable=False),
    Column("delivered_at", Instant),
    Column("last_status", Integer),
    Column("last_error", Text),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
    Index("ix_deliveries_webhook", "webhook_id", "id"),
    Index("ix_deliveries_entity", "webhook_id", "entity", "entity_id", "id"),
)

alert_state = Table(  # one alert per entity and kind until the condition clears (no storms)
    "alert_state",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("entity", String(16), primary_key=True),
    _id("entity_id", primary_key=True),
    Column("active", Boolean, nullable=False),
    Column("last_sent_at", Instant),
    Index("ix_alert_state_entity", "entity_id"),
)

# ------------------------------------------------------------------------------ workspace users
users = Table(  # who may sign in to the workspace (/app): reps see their own book, managers all of it
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(256), nullable=False),  # scrypt (memory-hard), salted
    Column("role", String(16), nullable=False),  # rep / manager
    Column("owner", String(128)),  # the CRM owner name a rep works as
    Column("created_at", Instant, nullable=False),
)

# ------------------------------------------------------------------------------ workspace analytics
# the funnel and forecast pages as last computed from the whole book (funnelcast.serving.workspace.
# snapshots): reading a large book takes tens of seconds, so the leader keeps them fresh in the
# background and a page opens at once, saying how old its figures are
analytics_snapshots = Table(
    "analytics_snapshots",
    metadata,
    Column("view", String(64), primary_key=True),  # funnel, funnel:owner, forecast:90d ...
    Column("as_of", Instant, nullable=False),  # the book's clock the view was computed at
    Column("computed_at", Instant, nullable=False),
    Column("model_version", String(128)),  # the win model a forecast used (null: none)
    Column("seconds", Float, nullable=False),  # how long it took to compute
    Column("payload", Text, nullable=False),  # JSON, frames as Parquet (snapshots.encode)
)

ENTITY_TABLES = {
    "accounts": accounts,
    "leads": leads,
    "activities": activities,
    "opportunities": opportunities,
    "stage_history": stage_history,
    "close_date_history": close_date_history,
    "amount_history": amount_history,
}

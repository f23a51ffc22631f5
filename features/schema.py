"""The canonical CRM data model: entities, their columns, types and vocabularies.

This module is the single source of truth for column names; `docs/data-model.md` is checked
against it by a test. Every timestamp is UTC (naive input is taken as UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from funnelcast.core.vocabulary import (  # noqa: F401  (re-exported: the schema's vocabularies)
    ACTIVITY_TYPES,
    CONTACT_ROLES,
    ENTITY_TYPES,
    LOSS_REASONS,
    OUTCOMES,
)

Kind = Literal["id", "text", "category", "number", "timestamp"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool
    meaning: str
    example: str
    min_value: float | None = None  # numbers: smallest allowed value
    choices: tuple[str, ...] | None = None  # categories with a closed vocabulary
    label: bool = False  # outcome column: a label, never a feature


@dataclass(frozen=True)
class Entity:
    name: str
    key: str | None  # unique id column, if any
    optional: bool  # the whole file may be absent
    meaning: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


ACCOUNTS = Entity(
    "accounts",
    "account_id",
    False,
    "Companies that leads and opportunities belong to.",
    (
        Column("account_id", "id", True, "Unique account id", "A000123"),
        Column("name", "text", True, "Company name", "星辰科技有限公司"),
        Column("industry", "category", False, "Industry", "manufacturing"),
        Column("employees", "number", False, "Number of employees", "250", min_value=0),
        Column(
            "annual_revenue", "number", False, "Annual revenue in the base currency", "48000000", min_value=0
        ),
        Column("region", "category", False, "Sales region", "华东"),
    ),
)

LEADS = Entity(
    "leads",
    "lead_id",
    False,
    "Marketing leads with BANT as captured. Outcome columns are labels and never features.",
    (
        Column("lead_id", "id", True, "Unique lead id", "L0000042"),
        Column("account_id", "id", False, "Account the lead belongs to, if matched", "A000123"),
        Column("company", "text", False, "Company name as entered (when no account is matched)", "Acme Ltd"),
        Column("industry", "category", False, "Industry (falls back to the account's)", "software"),
        Column("employees", "number", False, "Company size (falls back to the account's)", "80", min_value=0),
        Column("region", "category", False, "Region (falls back to the account's)", "华南"),
        Column("created_at", "timestamp", True, "When the lead was created", "2024-03-05T10:22:13Z"),
        Column("source", "category", True, "Source channel", "webinar"),
        Column("owner", "category", False, "Owner (SDR or sales rep)", "张伟"),
        Column("contact_name", "text", False, "Contact person (PII: never logged, never a feature)", "李娜"),
        Column(
            "contact_email",
            "text",
            False,
            "Contact email (PII: never logged, never a feature)",
            "li.na@xingchen.cn",
        ),
        Column(
            "contact_phone",
            "text",
            False,
            "Contact phone (PII: never logged, never a feature)",
            "+86 138-1234-5678",
        ),
        Column("contact_title", "text", False, "Authority: the contact's title", "采购总监"),
        Column(
            "contact_role",
            "category",
            False,
            "Authority: buying role",
            "decision_maker",
            choices=CONTACT_ROLES,
        ),
        Column("product_interest", "category", False, "Need: product the lead asked about", "crm_suite"),
        Column("need", "category", False, "Need: declared need", "sales_automation"),
        Column("budget_amount", "number", False, "Budget: declared amount", "200000", min_value=0),
        Column("budget_currency", "category", False, "Budget: currency of budget_amount", "CNY"),
        Column("budget_band", "category", False, "Budget: band when no amount is given", "50k-200k"),
        Column("timeline_date", "timestamp", False, "Timeline: expected purchase date", "2024-06-30"),
        Column("timeline_horizon", "category", False, "Timeline: purchase horizon band", "1-3m"),
        Column(
            "converted_at",
            "timestamp",
            False,
            "Label: became an opportunity / SQL",
            "2024-04-02T08:00:00Z",
            label=True,
        ),
        Column(
            "disqualified_at", "timestamp", False, "Label: disqualified", "2024-05-01T09:00:00Z", label=True
        ),
        Column(
            "disqualify_reason", "category", False, "Label: why it was disqualified", "no_budget", label=True
        ),
    ),
)

ACTIVITIES = Entity(
    "activities",
    "activity_id",
    False,
    "Behaviour and sales events on leads, opportunities and accounts.",
    (
        Column("activity_id", "id", True, "Unique activity id", "E00000001"),
        Column("entity_type", "category", True, "What the event belongs to", "lead", choices=ENTITY_TYPES),
        Column("entity_id", "id", True, "Id of that lead, opportunity or account", "L0000042"),
        Column("occurred_at", "timestamp", True, "When it happened", "2024-03-06T14:01:55Z"),
        Column(
            "type",
            "category",
            True,
            "Event type from the documented vocabulary",
            "content_download",
            choices=tuple(ACTIVITY_TYPES),
        ),
        Column(
            "value", "number", False, "Numeric value: seconds on page, call minutes ...", "95", min_value=0
        ),
        Column("contact_id", "id", False, "Contact involved (for engaged-contact counts)", "O000017-c2"),
        Column(
            "contact_role",
            "category",
            False,
            "Buying role of that contact",
            "decision_maker",
            choices=CONTACT_ROLES,
        ),
    ),
)

OPPORTUNITIES = Entity(
    "opportunities",
    "opportunity_id",
    False,
    "Deals in a pipeline. outcome / closed_at / loss_reason are labels.",
    (
        Column("opportunity_id", "id", True, "Unique opportunity id", "O000017"),
        Column("lead_id", "id", False, "Lead it came from", "L0000042"),
        Column("account_id", "id", True, "Account", "A000123"),
        Column("owner", "category", True, "Sales owner", "王芳"),
        Column("pipeline", "category", True, "Pipeline key from funnel.yaml", "default"),
        Column("product", "category", True, "Product key", "crm_suite"),
        Column("amount", "number", True, "Deal amount as currently recorded", "180000", min_value=0),
        Column("currency", "category", True, "Currency of amount", "CNY"),
        Column("created_at", "timestamp", True, "When the deal was created", "2024-04-02T08:00:00Z"),
        Column(
            "expected_close_date",
            "timestamp",
            False,
            "Expected close date as currently recorded",
            "2024-07-15",
        ),
        Column(
            "closed_at",
            "timestamp",
            False,
            "Label: when it was won or lost",
            "2024-07-20T16:00:00Z",
            label=True,
        ),
        Column("outcome", "category", True, "Label: open, won or lost", "won", choices=OUTCOMES, label=True),
        Column(
            "loss_reason",
            "category",
            False,
            "Label: why it was lost",
            "competitor_won",
            choices=tuple(LOSS_REASONS),
            label=True,
        ),
    ),
)

STAGE_HISTORY = Entity(
    "stage_history",
    None,
    False,
    "Every stage a deal entered. Regressions and skipped stages are data, not errors.",
    (
        Column("opportunity_id", "id", True, "Opportunity", "O000017"),
        Column("stage", "category", True, "Stage key from the deal's pipeline", "明确需求"),
        Column("entered_at", "timestamp", True, "When the deal entered the stage", "2024-05-10T09:30:00Z"),
    ),
)

CLOSE_DATE_HISTORY = Entity(
    "close_date_history",
    None,
    True,
    "Changes of the expected close date, so slips can be seen as of any date.",
    (
        Column("opportunity_id", "id", True, "Opportunity", "O000017"),
        Column("changed_at", "timestamp", True, "When the date was changed", "2024-06-20T11:00:00Z"),
        Column("expected_close_date", "timestamp", True, "The new expected close date", "2024-08-15"),
    ),
)

AMOUNT_HISTORY = Entity(
    "amount_history",
    None,
    True,
    "Changes of the deal amount, so changes can be seen as of any date.",
    (
        Column("opportunity_id", "id", True, "Opportunity", "O000017"),
        Column("changed_at", "timestamp", True, "When the amount was changed", "2024-06-20T11:00:00Z"),
        Column("amount", "number", True, "The new amount (deal currency)", "165000", min_value=0),
    ),
)

CUSTOM_PREFIX = "custom."
CUSTOM_ENTITIES = ("leads", "accounts", "opportunities")

CUSTOM_ATTRIBUTES = Entity(
    "custom_attributes",
    None,
    True,
    "Declares the extra columns of leads, accounts and opportunities that are custom attributes: a column "
    "named `custom.<name>` in that entity's file, typed here. Non-leaky attributes become features "
    "(`custom:<name>`, or `custom:account.<name>` through the account).",
    (
        Column("entity", "category", True, "Which file carries the column", "leads", choices=CUSTOM_ENTITIES),
        Column("name", "text", True, "Attribute name; the column is custom.<name>", "total_visits"),
        Column(
            "kind", "category", True, "How it is typed and used", "number", choices=("category", "number")
        ),
        Column(
            "leaky",
            "category",
            False,
            "true when filled in after the outcome: never a feature by default",
            "false",
            choices=("true", "false"),
        ),
        Column("meaning", "text", False, "What it means, for people", "Visits to the website"),
    ),
)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        ACCOUNTS,
        LEADS,
        ACTIVITIES,
        OPPORTUNITIES,
        STAGE_HISTORY,
        CLOSE_DATE_HISTORY,
        AMOUNT_HISTORY,
        CUSTOM_ATTRIBUTES,
    )
}
LABEL_COLUMNS: dict[str, list[str]] = {
    e.name: [c.name for c in e.columns if c.label] for e in ENTITIES.values()
}

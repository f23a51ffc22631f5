"""The closed vocabularies of the canonical CRM data (activity types, contact roles, outcomes, loss
reasons): the data contract every layer shares, so configuration can be checked against it."""

from __future__ import annotations

ACTIVITY_TYPES: dict[str, str] = {
    "web_visit": "a session on the website (value: seconds on site)",
    "page_view": "one page viewed (value: seconds on page)",
    "content_download": "white paper, case study or other asset downloaded",
    "email_sent": "a marketing or sales email delivered to the contact",
    "email_open": "an email opened",
    "email_click": "a link in an email clicked",
    "email_reply": "the contact replied to an email",
    "form_submit": "a web form submitted (contact us, pricing)",
    "demo_request": "a product demo requested",
    "webinar_attended": "a webinar attended (value: minutes)",
    "event_attended": "a trade show or on-site event attended",
    "call": "a phone call with the contact (value: minutes)",
    "meeting": "a meeting held with the contact (value: minutes)",
    "proposal_sent": "a proposal or quote sent",
}
# what we send is not the lead's doing: everything else is a touch by the lead
SENT_TYPES = ("email_sent", "proposal_sent")
TOUCH_TYPES = tuple(t for t in ACTIVITY_TYPES if t not in SENT_TYPES)
ENTITY_TYPES = ("lead", "opportunity", "account")
OUTCOMES = ("open", "won", "lost")
LOSS_REASONS: dict[str, str] = {
    "need_mismatch": "需求不匹配: the product did not fit the need",
    "competitor_won": "竞争对手赢单: a competitor won",
    "no_budget": "预算不足: no budget",
    "decision_delayed": "决策延迟: the decision was postponed",
    "other": "其他: any other reason",
}
CONTACT_ROLES = ("decision_maker", "champion", "influencer", "user", "gatekeeper")

"""Funnel analytics and revenue forecasts: pure functions over canonical CRM data (uses `features`)."""

"""Declarative import of CRM exports (CSV, Excel) into the canonical data directory."""

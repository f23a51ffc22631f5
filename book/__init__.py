"""The book: Funnelcast's own copy of the CRM's accounts, leads, activities, deals and their histories,
with the latest score of every lead and deal and every change of it (SQLAlchemy 2; SQLite by default,
PostgreSQL by URL; the schema is migrated by Alembic)."""

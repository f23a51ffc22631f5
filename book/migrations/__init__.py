"""Alembic migrations of the book (`funnelcast book migrate`; the server and the CLI migrate on open)."""

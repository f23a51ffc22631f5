"""Base exception of the shared domain package."""


class FunnelcastError(Exception):
    """Base class for errors a user can act on; the CLI prints them without a traceback."""

    exit_code = 2


class ConfigError(FunnelcastError):
    """A configuration file is missing or invalid."""

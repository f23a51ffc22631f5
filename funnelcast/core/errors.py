"""The one error base of Funnelcast. Every error a user can act on is a `FunnelcastError`: it carries
its HTTP status (the API answers with it), its exit code (the CLI exits with it), a stable `code`
for machines, a message for people and, where it helps, `details` naming each field at fault.

Exit codes of the `funnelcast` command (README.md, "Exit codes"):

| code | meaning |
| ---: | --- |
| 0 | done |
| 1 | the data has problems (`validate`, `import`: one line per problem) |
| 2 | bad usage, configuration or input (the message says which and what was expected) |
| 3 | internal error (a bug: please report it with the output of `-v`) |
| 4 | training refused by a gate (too few labels, leakage, invalid predictions) |
| 5 | promotion refused (the challenger is worse, or the version cannot be loaded) |
"""

from __future__ import annotations

EXIT_DATA, EXIT_USAGE, EXIT_INTERNAL, EXIT_TRAINING, EXIT_PROMOTION = 1, 2, 3, 4, 5


class FunnelcastError(Exception):
    """Base of every error a user can act on; the CLI prints the message without a traceback and the
    API answers `{"error": {"code", "message", "details"}}` with `http_status`."""

    http_status = 400
    exit_code = EXIT_USAGE
    code = "bad_request"

    def __init__(self, message: str, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class ConfigError(FunnelcastError):
    """A configuration file is missing or invalid."""

    http_status, code = 500, "configuration_error"


class InvalidInput(FunnelcastError):
    """A request, option or record breaks a rule; `details` name every field at fault."""

    http_status, code = 422, "invalid_input"


class Unauthorized(FunnelcastError):
    http_status, code = 401, "unauthorized"


class Forbidden(FunnelcastError):
    http_status, code = 403, "forbidden"


class NotFound(FunnelcastError):
    http_status, code = 404, "not_found"


class Conflict(FunnelcastError):
    http_status, code = 409, "conflict"


class TooLarge(FunnelcastError):
    http_status, code = 413, "too_large"


class RateLimited(FunnelcastError):
    http_status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class NotReady(FunnelcastError):
    """The service cannot answer yet (models loading, store unreachable): try again later."""

    http_status, code = 503, "not_ready"


class ModelRejected(FunnelcastError):
    """A model version failed to load or failed its checks; the one serving before stays."""

    http_status, exit_code, code = 503, EXIT_PROMOTION, "model_rejected"


class ModelMissing(ModelRejected):
    """There is no model to load (no registry entry or alias, no export): distinct from one that is
    there and fails."""

    code = "model_missing"

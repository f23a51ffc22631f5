"""Errors of the features package. Each knows the HTTP status it maps to at the API edge."""

from __future__ import annotations

from typing import TYPE_CHECKING

from funnelcast.errors import FunnelcastError

if TYPE_CHECKING:
    from features.validation import Problem


class FeaturesError(FunnelcastError):
    http_status = 422


class DataValidationError(FeaturesError):
    """The data directory (or a request) breaks one or more rules; `problems` lists every one."""

    def __init__(self, problems: list[Problem], skipped: dict[str, int] | None = None):
        self.problems = problems
        self.skipped = skipped or {}
        head = "\n".join(str(p) for p in problems[:20])
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} data problem(s):\n{head}{more}")

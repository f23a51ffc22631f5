"""The data error of the features package: every broken rule of a data set or request, at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from funnelcast.core.errors import EXIT_DATA, InvalidInput

if TYPE_CHECKING:
    from funnelcast.features.validation import Problem


class DataValidationError(InvalidInput):
    """The data directory (or a request) breaks one or more rules; `problems` lists every one."""

    exit_code = EXIT_DATA

    def __init__(self, problems: list[Problem], skipped: dict[str, int] | None = None):
        self.problems = problems
        self.skipped = skipped or {}
        head = "\n".join(str(p) for p in problems[:20])
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        details = [
            {
                "field": f"{p.file}[{p.row}].{p.column}" if p.row is not None else p.file,
                "message": f"{p.message} [{p.rule}]",
            }
            for p in problems
        ]
        super().__init__(f"{len(problems)} data problem(s):\n{head}{more}", details)

"""What the ledger takes as sessions (a CSV row or an API request) and how it refuses them.

Plain data, shared by the CSV import (:mod:`jishi.collector.ingest.sessions_csv`), the API and
the ledger's session store (:mod:`jishi.collector.ledger.sessions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jishi.collector.usage.engine import Session
from jishi.errors import JishiError


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A session of one instrument on its way to the ledger: a CSV row (``line`` is where it
    stands in the file) or an API request (``line`` is None)."""

    instrument: str
    session: Session
    line: int | None = None


class SessionImportError(JishiError):
    """Sessions that cannot be stored; ``problems`` lists ``(line, message)`` (line None: the
    session did not come from a file)."""

    def __init__(self, problems: Sequence[tuple[int | None, str]]) -> None:
        self.problems = list(problems)
        shown = "\n".join(
            text if line is None else f"line {line}: {text}" for line, text in problems[:50]
        )
        more = f"\n... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} bad row(s), nothing imported:\n{shown}{more}")

    @property
    def summary(self) -> str:
        """The problems on one line, without row numbers (a feed or a check reports them)."""
        return "; ".join(text for _line, text in self.problems)

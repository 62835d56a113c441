"""The data every front end (CLI, LSP, fixes) consumes.

Positions are 0-based lines and 0-based columns counted in Python characters
(code points) of the analysed text. Front ends convert: the CLI to 1-based
rows/columns, the LSP to the client's negotiated encoding (UTF-16 or UTF-8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

# the special codes live with every other code (codes.py); importable from here, where findings are made
from ..codes import NOT_ANALYSED, SYNTAX_ERROR

__all__ = [
    "NOT_ANALYSED",
    "SYNTAX_ERROR",
    "Applicability",
    "Edit",
    "Finding",
    "Fix",
    "Position",
    "Related",
    "Severity",
    "Span",
    "not_analysed",
]


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"
    HINT = "hint"


@dataclass(frozen=True, order=True)
class Position:
    line: int
    column: int


@dataclass(frozen=True, order=True)
class Span:
    start: Position
    end: Position

    @staticmethod
    def of(line: int, col: int, end_line: int, end_col: int) -> Span:
        return Span(Position(line, col), Position(end_line, end_col))


@dataclass(frozen=True)
class Edit:
    """Replace the text in `span` (of the analysed file) with `content`."""

    span: Span
    content: str


Applicability = Literal["safe", "unsafe"]


@dataclass(frozen=True)
class Fix:
    message: str
    edits: tuple[Edit, ...]
    applicability: Applicability = "safe"


@dataclass(frozen=True)
class Related:
    """The other half of the story: e.g. the `eval()` inside a helper."""

    path: str
    span: Span
    message: str
    cell: int | None = None  # in a notebook: the cell (1-based) `span` is relative to


@dataclass
class Finding:
    code: str
    message: str
    path: str
    span: Span
    severity: Severity
    fix: Fix | None = None
    related: tuple[Related, ...] = ()
    # Free-form, JSON-serialisable context for front ends (e.g. LSP `data`).
    data: dict = field(default_factory=dict)
    # In a notebook, once mapped for output: the cell (1-based among all cells) that `span`,
    # the fix's edits and same-file related spans are relative to. None: the whole program.
    cell: int | None = None

    def sort_key(self):
        return (self.path, self.cell or 0, self.span.start, self.code)

    @property
    def is_note(self) -> bool:
        """A note about the analysis itself (TL001), not a problem in the code: it never
        makes `torchlint check` fail."""
        return self.code == NOT_ANALYSED


def not_analysed(path: str, reason: str, span: Span | None = None) -> Finding:
    """The TL001 note: `reason` says what was skipped and why, e.g. "the file is a FIFO"."""
    return Finding(NOT_ANALYSED, f"not analysed: {reason}", path, span or Span.of(0, 0, 0, 0), Severity.INFORMATION)

"""Text edits shared by quick fixes, `source.fixAll`, and `torchlint check --fix`."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .analysis.findings import Edit, Finding, Position, Span

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def line_offsets(text: str) -> list[int]:
    return [0] + [m.end() for m in _LINE_BREAK.finditer(text)]


def offset(text: str, pos: Position, starts: list[int] | None = None) -> int:
    starts = starts or line_offsets(text)
    if pos.line >= len(starts):
        return len(text)
    line_start = starts[pos.line]
    line_end = starts[pos.line + 1] if pos.line + 1 < len(starts) else len(text)
    # never step past the line break
    content_end = line_end
    while content_end > line_start and text[content_end - 1] in "\r\n":
        content_end -= 1
    return min(line_start + pos.column, content_end)


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """Apply non-overlapping edits (an edit overlapping an earlier one is skipped)."""
    starts = line_offsets(text)
    ranges = sorted(
        ((offset(text, e.span.start, starts), offset(text, e.span.end, starts), e.content) for e in edits),
        key=lambda r: (r[0], r[1]),
    )
    out, cursor = [], 0
    for a, b, content in ranges:
        if a < cursor:
            continue
        out.append(text[cursor:a])
        out.append(content)
        cursor = b
    out.append(text[cursor:])
    return "".join(out)


def select_fixes(findings: Iterable[Finding], unsafe: bool = False) -> list[Finding]:
    """Findings whose fixes can be applied together (first come, non-overlapping)."""
    chosen: list[Finding] = []
    taken: list[Span] = []
    for f in sorted(findings, key=Finding.sort_key):
        if f.fix is None or (f.fix.applicability == "unsafe" and not unsafe):
            continue
        spans = [e.span for e in f.fix.edits]
        if any(_overlaps(s, t) for s in spans for t in taken):
            continue
        chosen.append(f)
        taken.extend(spans)
    return chosen


def fix_all_edits(findings: Iterable[Finding], unsafe: bool = False) -> list[Edit]:
    return edits_of(select_fixes(findings, unsafe))


def edits_of(findings: Iterable[Finding]) -> list[Edit]:
    """The edits of the findings' fixes, in order."""
    return [e for f in findings if f.fix is not None for e in f.fix.edits]


def _overlaps(a: Span, b: Span) -> bool:
    if a.start == a.end == b.start == b.end:
        return True  # two insertions at one point would interleave
    return a.start < b.end and b.start < a.end


_NOQA = re.compile(r"#\s*noqa(?::[\s]?(?P<codes>[A-Za-z0-9-]+(?:[,\s]+[A-Za-z0-9-]+)*))?", re.IGNORECASE)


def noqa_edit(text: str, line: int, code: str) -> Edit:
    """An edit adding `code` to the line's `# noqa` comment, or adding one."""
    lines = _LINE_BREAK.split(text)
    content = lines[line] if line < len(lines) else ""
    m = _NOQA.search(content)
    if m:
        if m.group("codes") is None:  # bare noqa already silences everything
            return Edit(Span(Position(line, m.end()), Position(line, m.end())), "")
        end = m.end("codes")
        return Edit(Span(Position(line, end), Position(line, end)), f", {code}")
    stripped = len(content.rstrip())
    return Edit(Span(Position(line, stripped), Position(line, len(content))), f"  # noqa: {code}")

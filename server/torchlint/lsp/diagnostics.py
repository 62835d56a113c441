"""Findings -> LSP diagnostics, and the analysis record they came from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path

from ..analysis.findings import Edit, Finding, Severity
from ..checker import FileReport
from ..rules import get_rule
from .convert import LineIndex

SOURCE = "torchlint"

RelatedText = Callable[[str], str | None]  # the text of another file (for its positions), or None

_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFORMATION: types.DiagnosticSeverity.Information,
    Severity.HINT: types.DiagnosticSeverity.Hint,
}


@dataclass
class Analysis:
    """One document version, what the engine said about it, and its client-unit conversion."""

    uri: str
    version: int | None
    text: str
    report: FileReport
    index: LineIndex
    diagnostics: list[types.Diagnostic] = field(default_factory=list)
    generation: int = 0  # configuration generation it was computed under
    # A notebook cell's view of its notebook's analysis: the notebook's URI, and every code
    # cell's URI and positions (related information may point into another cell).
    notebook: str | None = None
    cells: dict[int, tuple[str, LineIndex]] | None = None

    @property
    def findings(self) -> list[Finding]:
        return self.report.findings

    @property
    def result_id(self) -> str:
        return f"{self.generation}:{self.version}:{hash(self.text) & 0xFFFFFFFF:x}"


def to_diagnostics(analysis: Analysis, related_text: RelatedText) -> list[types.Diagnostic]:
    return [_diagnostic(i, f, analysis, related_text) for i, f in enumerate(analysis.findings)]


def _diagnostic(i: int, f: Finding, analysis: Analysis, related_text: RelatedText) -> types.Diagnostic:
    rule = get_rule(f.code)
    data: dict[str, Any] = {"version": analysis.version, "index": i, "code": f.code}
    if f.fix is not None:
        data["fix"] = {
            "message": f.fix.message,
            "applicability": f.fix.applicability,
            "edits": [edit_to_json(e, analysis.index) for e in f.fix.edits],
        }
    related = []
    for r in f.related:
        if r.cell is not None and analysis.cells and r.cell in analysis.cells:
            uri, index = analysis.cells[r.cell]
            related.append(
                types.DiagnosticRelatedInformation(
                    location=types.Location(uri=uri, range=index.range(r.span)), message=r.message
                )
            )
            continue
        if _same_file(r.path, f.path):
            index = analysis.index
        else:
            text = related_text(r.path)
            index = LineIndex(text, analysis.index.encoding) if text is not None else analysis.index
        related.append(
            types.DiagnosticRelatedInformation(
                location=types.Location(
                    uri=analysis.uri if index is analysis.index else _uri(r.path), range=index.range(r.span)
                ),
                message=r.message,
            )
        )
    return types.Diagnostic(
        range=analysis.index.range(f.span),
        message=headline(f.message)[0],
        severity=_SEVERITY.get(f.severity, types.DiagnosticSeverity.Warning),
        code=f.code,
        code_description=types.CodeDescription(href=rule.url()) if rule is not None else None,
        source=SOURCE,
        related_information=related or None,
        data=data,
    )


def edit_to_json(e: Edit, index: LineIndex) -> dict[str, Any]:
    rng = index.range(e.span)
    return {
        "range": {
            "start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character},
        },
        "newText": e.content,
    }


def _uri(path: str) -> str:
    return from_fs_path(str(Path(path).resolve())) or path


def _same_file(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return a == b


def headline(message: str) -> tuple[str, str]:
    """The message's first clause (the bug, short enough for the Problems panel) and the rest
    (the explanation, which hover shows). Rule messages are written as "bug: detail; advice":
    the split is at the first `: `, `; ` or sentence end outside backticks and brackets."""
    depth = 0
    code = False
    for i, ch in enumerate(message):
        if ch == "`":
            code = not code
        elif code:
            continue
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif (
            depth == 0
            and message[i + 1 : i + 2] == " "
            and (ch in ":;" or ch == "." and message[i + 2 : i + 3].isupper())
        ):
            head, rest = message[:i].rstrip(), message[i + 2 :].strip()
            if len(head) >= 12 and rest:
                return head, rest
            break
    return message, ""

"""Renderers: text lines, ruff-shaped JSON, SARIF 2.1.0."""

from __future__ import annotations

import json

from .. import __version__
from ..analysis.findings import Edit, Finding, Position
from ..codes import CodeInfo, catalogue, get_rule


def render(findings: list[Finding], fmt: str, files_checked: int = 0, fixed: int = 0) -> str:
    if fmt == "json":
        return json.dumps([to_json(f) for f in findings], indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(to_sarif(findings), indent=2) + "\n"
    lines = [
        f"{f.path}:{_cell(f.cell)}{f.span.start.line + 1}:{f.span.start.column + 1}: {f.code} {f.message}"
        for f in findings
    ]
    fixable = sum(1 for f in findings if f.fix and f.fix.applicability == "safe")
    problems = sum(1 for f in findings if not f.is_note)
    notes = len(findings) - problems
    if problems:
        summary = f"Found {problems} problem{'s' if problems != 1 else ''}"
        if fixed:
            summary += f" ({fixed} fixed)"
        lines.append(summary + ".")
        if fixable:
            lines.append(f"[*] {fixable} fixable with `torchlint check --fix`.")
    elif fixed:
        lines.append(f"Fixed {fixed} problem{'s' if fixed != 1 else ''}; none left.")
    if notes:
        lines.append(f"{notes} not analysed (TL001 note{'s' if notes != 1 else ''}).")
    return "\n".join(lines) + ("\n" if lines else "")


def _cell(cell: int | None) -> str:
    return f"cell {cell}:" if cell is not None else ""


def _loc(p: Position) -> dict:
    return {"row": p.line + 1, "column": p.column + 1}


def _edit(e: Edit) -> dict:
    return {"content": e.content, "location": _loc(e.span.start), "end_location": _loc(e.span.end)}


def _url(code: str) -> str | None:
    rule = get_rule(code)
    return rule.url() if rule else None


def to_json(f: Finding) -> dict:
    return {
        "code": f.code,
        "message": f.message,
        "filename": f.path,
        "location": _loc(f.span.start),
        "end_location": _loc(f.span.end),
        "fix": None
        if f.fix is None
        else {
            "applicability": f.fix.applicability,
            "message": f.fix.message,
            "edits": [_edit(e) for e in f.fix.edits],
        },
        "url": _url(f.code),
        "severity": f.severity.value,
        # ruff's field: the notebook cell (1-based) the rows are relative to; null in a .py file
        "cell": f.cell,
        "related": [
            {
                "filename": r.path,
                "cell": r.cell,
                "location": _loc(r.span.start),
                "end_location": _loc(r.span.end),
                "message": r.message,
            }
            for r in f.related
        ],
    }


_SARIF_LEVEL = {"error": "error", "warning": "warning", "information": "note", "hint": "note"}


def to_sarif(findings: list[Finding]) -> dict:
    rules = [_sarif_rule(c) for c in catalogue()]

    def region(span, cell: int | None = None) -> dict:
        r = {
            "startLine": span.start.line + 1,
            "startColumn": span.start.column + 1,
            "endLine": span.end.line + 1,
            "endColumn": span.end.column + 1,
        }
        if cell is not None:  # lines of a notebook cell, not of the .ipynb's JSON
            r["properties"] = {"cell": cell}
        return r

    results = []
    for f in findings:
        result = {
            "ruleId": f.code,
            "level": _SARIF_LEVEL[f.severity.value],
            "message": {"text": f.message},
            "locations": [
                {"physicalLocation": {"artifactLocation": {"uri": _uri(f.path)}, "region": region(f.span, f.cell)}}
            ],
        }
        if f.related:
            result["relatedLocations"] = [
                {
                    "id": i,
                    "message": {"text": r.message},
                    "physicalLocation": {"artifactLocation": {"uri": _uri(r.path)}, "region": region(r.span, r.cell)},
                }
                for i, r in enumerate(f.related)
            ]
        if f.fix is not None:
            result["fixes"] = [
                {
                    "description": {"text": f.fix.message},
                    "artifactChanges": [
                        {
                            "artifactLocation": {"uri": _uri(f.path)},
                            "replacements": [
                                {"deletedRegion": region(e.span, f.cell), "insertedContent": {"text": e.content}}
                                for e in f.fix.edits
                            ],
                        }
                    ],
                }
            ]
        results.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "torchlint",
                        "version": __version__,
                        "informationUri": "https://github.com/torchlint/torchlint",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }


def _sarif_rule(c: CodeInfo) -> dict:
    rule: dict = {"id": c.code, "name": c.name, "shortDescription": {"text": c.summary}}
    if c.doc is not None:
        rule["fullDescription"] = {"text": c.doc}
    if c.url is not None:
        rule["helpUri"] = c.url
    rule["defaultConfiguration"] = {"level": _SARIF_LEVEL[c.severity.value]}
    return rule


def _uri(path: str) -> str:
    return path.replace("\\", "/")

"""Hover on a diagnostic: what the rule catches, how the fix looks, where the docs are."""

from __future__ import annotations

from lsprotocol import types

from ..analysis.findings import Finding
from ..rules import get_rule
from .diagnostics import Analysis


def findings_at(analysis: Analysis, pos: types.Position) -> list[Finding]:
    p = analysis.index.from_client(pos)
    return [f for f in analysis.findings if f.span.start <= p <= f.span.end]


def hover(analysis: Analysis, pos: types.Position) -> types.Hover | None:
    found = findings_at(analysis, pos)
    if not found:
        return None
    parts = [_explain(f) for f in found]
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(parts)),
        range=analysis.index.range(found[0].span),
    )


def _explain(f: Finding) -> str:
    rule = get_rule(f.code)
    if rule is None:
        return f"**torchlint {f.code}**: {f.message}"
    out = [f"**{rule.code}** `{rule.name}`: {f.message}", "", rule.summary()]
    example = rule.example_fix()
    if example:
        out += ["", "Use instead:", "", "```python", example, "```"]
    out += ["", f"[{rule.code} documentation]({rule.url()})"]
    return "\n".join(out)

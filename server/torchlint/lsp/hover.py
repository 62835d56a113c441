"""Hover on a diagnostic: only what the diagnostic does not say (VS Code renders the message,
code and related lines right above the hover): the rest of the message, why the rule matters,
what the fix looks like, and where the docs are."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from ..analysis.findings import Finding
from ..rules import get_rule
from .diagnostics import Analysis, headline

if TYPE_CHECKING:
    from .state import State


def register(server: LanguageServer, state: State) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(params: types.HoverParams) -> types.Hover | None:
        a = await state.scheduler.current_analysis(params.text_document.uri)
        return hover(a, params.position) if a else None


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


def why(doc: str) -> str | None:
    """The first paragraph of a rule's "Why is this bad?" section."""
    m = re.search(r"## Why is this bad\?\s*\n(.+?)(\n\s*\n|$)", doc, re.DOTALL)
    return " ".join(m.group(1).split()) if m else None


def _explain(f: Finding) -> str:
    rule = get_rule(f.code)
    rest = headline(f.message)[1]
    if rule is None:
        return rest or f"torchlint {f.code}"
    out = [f"**{rule.code}** `{rule.name}`"]
    if rest:
        out += ["", rest[0].upper() + rest[1:]]
    reason = why(rule.doc())
    if reason:
        out += ["", f"**Why is this bad?** {reason}"]
    example = rule.example_fix()
    if example:
        out += ["", "**Use instead:**", "", "```python", example, "```"]
    if f.fix is not None:
        safety = "safe" if f.fix.applicability == "safe" else "unsafe: check the result"
        out += ["", f"**Quick fix** ({safety}): {f.fix.message}"]
    out += ["", f"[{rule.code} documentation]({rule.url()})"]
    return "\n".join(out)

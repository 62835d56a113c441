"""Code actions: a rule's quick fix, "Disable ... for this line", and fix-all.

Edits are always computed from the analysis of the document version they will be
applied to, and sent as a versioned document edit so a client refuses them if the
text moved on in between.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer

from ..analysis.findings import Edit, Span
from ..codes import NOT_SUPPRESSIBLE
from ..fixes import fix_all_edits, noqa_edit
from .diagnostics import SOURCE, Analysis

if TYPE_CHECKING:
    from .state import State

FIX_ALL_KIND = "source.fixAll.torchlint"
KINDS = [types.CodeActionKind.QuickFix, FIX_ALL_KIND]


def register(server: LanguageServer, state: State) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=KINDS, resolve_provider=False),
    )
    async def code_action(params: types.CodeActionParams) -> list[types.CodeAction] | None:
        a = await state.scheduler.current_analysis(params.text_document.uri)
        if a is None:
            return None
        document_changes = bool(
            get_capability(server.client_capabilities, "workspace.workspace_edit.document_changes", False)
        )
        return code_actions(a, params.range, params.context, document_changes) or None


def title(code: str, text: str) -> str:
    """Titles name their tool and rule, as ruff's do: `torchlint (TL201): Insert model.train()`."""
    return f"torchlint ({code}): {text[:1].upper()}{text[1:]}"


def wanted(kind: str, only: list[str] | None) -> bool:
    """LSP kinds are hierarchical: asking for `source` includes `source.fixAll.torchlint`."""
    if not only:
        return True
    return any(kind == o or kind.startswith(o + ".") for o in only)


def code_actions(
    analysis: Analysis,
    rng: types.Range,
    context: types.CodeActionContext,
    document_changes: bool,
) -> list[types.CodeAction]:
    only = [str(k) for k in context.only] if context.only else None
    actions: list[types.CodeAction] = []
    if wanted(types.CodeActionKind.QuickFix, only):
        for i in _findings_in_request(analysis, rng, context):
            f = analysis.findings[i]
            diag = analysis.diagnostics[i] if i < len(analysis.diagnostics) else None
            if f.fix is not None and f.fix.edits:
                actions.append(
                    types.CodeAction(
                        title=title(f.code, f.fix.message),
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[diag] if diag else None,
                        is_preferred=f.fix.applicability == "safe",
                        edit=workspace_edit(analysis, f.fix.edits, document_changes),
                    )
                )
        seen: set[tuple[str, int]] = set()
        for i in _findings_in_request(analysis, rng, context):
            f = analysis.findings[i]
            key = (f.code, f.span.start.line)
            if f.code in NOT_SUPPRESSIBLE or key in seen:
                continue  # a syntax error or a note that code went unread cannot be silenced
            seen.add(key)
            diag = analysis.diagnostics[i] if i < len(analysis.diagnostics) else None
            actions.append(
                types.CodeAction(
                    title=title(f.code, "Disable for this line"),
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diag] if diag else None,
                    edit=workspace_edit(
                        analysis, [noqa_edit(analysis.text, f.span.start.line, f.code)], document_changes
                    ),
                )
            )
    if wanted(FIX_ALL_KIND, only):
        action = fix_all_action(analysis, document_changes)
        if action is not None:
            actions.append(action)
    return actions


def fix_all_action(analysis: Analysis, document_changes: bool) -> types.CodeAction | None:
    edits = fix_all_edits(analysis.findings)
    if not edits:
        return None
    return types.CodeAction(
        title="torchlint: Fix all auto-fixable problems",
        kind=FIX_ALL_KIND,
        edit=workspace_edit(analysis, edits, document_changes),
    )


def workspace_edit(analysis: Analysis, edits: Iterable[Edit], document_changes: bool) -> types.WorkspaceEdit:
    text_edits = text_edits_for(analysis, edits)
    if document_changes:
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=analysis.uri, version=analysis.version
                    ),
                    edits=text_edits,
                )
            ]
        )
    return types.WorkspaceEdit(changes={analysis.uri: text_edits})


def text_edits_for(analysis: Analysis, edits: Iterable[Edit]) -> list[types.TextEdit]:
    # Non-overlapping by construction (fixes.select_fixes); keep them in document order.
    ordered: list[Edit] = sorted(edits, key=lambda e: (e.span.start, e.span.end))
    return [types.TextEdit(range=analysis.index.range(e.span), new_text=e.content) for e in ordered]


def _findings_in_request(analysis: Analysis, rng: types.Range, context: types.CodeActionContext) -> list[int]:
    """Indices of the findings the client asked about.

    Prefer the diagnostics the client sent (their `data.index` is exact when it was
    computed for this version); otherwise take every finding on the requested lines,
    since clients such as Neovim send the cursor position as the range.
    """
    chosen: list[int] = []
    for d in context.diagnostics or []:
        if d.source != SOURCE:
            continue
        data = d.data if isinstance(d.data, dict) else {}
        i = data.get("index")
        if (
            isinstance(i, int)
            and data.get("version") == analysis.version
            and 0 <= i < len(analysis.findings)
            and analysis.findings[i].code == d.code
        ):
            chosen.append(i)
            continue
        for j, f in enumerate(analysis.findings):  # stale data: match by code and range
            if f.code == d.code and analysis.index.range(f.span) == d.range:
                chosen.append(j)
    if not chosen:
        req = analysis.index.span_from_client(rng)
        for j, f in enumerate(analysis.findings):
            if _lines_overlap(f.span, req):
                chosen.append(j)
    return sorted(set(chosen))


def _lines_overlap(a: Span, b: Span) -> bool:
    return a.start.line <= b.end.line and b.start.line <= a.end.line

"""Code lenses: "Run overfit check" above every training loop the engine found."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from .diagnostics import Analysis
from .overfit import RUN_COMMAND

if TYPE_CHECKING:
    from .state import State


def register(server: LanguageServer, state: State) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    async def code_lens(params: types.CodeLensParams) -> list[types.CodeLens] | None:
        a = await state.scheduler.current_analysis(params.text_document.uri)
        return code_lenses(a) if a else None


def code_lenses(analysis: Analysis) -> list[types.CodeLens]:
    lenses: list[types.CodeLens] = []
    for span in analysis.report.training_loops:
        line = span.start.line
        start = analysis.index.position(span.start)
        lenses.append(
            types.CodeLens(
                range=types.Range(start=start, end=start),
                command=types.Command(
                    title="Run overfit check",
                    command=RUN_COMMAND,
                    arguments=[{"uri": analysis.uri, "line": line}],
                ),
            )
        )
    return lenses

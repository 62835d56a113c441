"""Code lenses: "Run overfit check" above every training loop the engine found."""

from __future__ import annotations

from lsprotocol import types

from .diagnostics import Analysis

RUN_OVERFIT = "torchlint.runOverfitCheck"
CANCEL_OVERFIT = "torchlint.cancelOverfitCheck"


def code_lenses(analysis: Analysis) -> list[types.CodeLens]:
    lenses = []
    for span in analysis.report.training_loops:
        line = span.start.line
        start = analysis.index.position(span.start)
        lenses.append(
            types.CodeLens(
                range=types.Range(start=start, end=start),
                command=types.Command(
                    title="Run overfit check",
                    command=RUN_OVERFIT,
                    arguments=[{"uri": analysis.uri, "line": line}],
                ),
            )
        )
    return lenses

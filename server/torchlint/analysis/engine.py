"""Run every rule over one file: parse -> resolve -> (flow, lazily) -> rules -> findings."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from ..rules import all_rules
from .context import FileContext
from .findings import Finding, Severity, Span
from .workspace import Workspace

log = logging.getLogger("torchlint")

# TorchFix's trick: files that never name torch cannot hold a torch bug.
_MENTIONS_TORCH = re.compile(r"\b(torch|lightning|pytorch_lightning|torchvision|nn\.Module)\b")


@dataclass
class AnalysisResult:
    findings: list[Finding] = field(default_factory=list)
    training_loops: list[Span] = field(default_factory=list)
    rule_errors: list[str] = field(default_factory=list)


def analyze(path: str, text: str, workspace: Workspace, codes: set[str] | None = None) -> AnalysisResult:
    """Findings of the enabled rules (`codes`, None = all) for `text`; never raises for bad input."""
    result = AnalysisResult()
    workspace.begin(path)
    model = workspace.model_for_text(path, text)
    source = model.source
    if source.syntax_error is not None:
        err = source.syntax_error
        result.findings.append(Finding("syntax-error", err.message, path, err.span, Severity.ERROR))
    if not _MENTIONS_TORCH.search(text):
        return result
    ctx = FileContext(source, model, workspace)
    for rule_cls in all_rules():
        if codes is not None and rule_cls.code not in codes:
            continue
        try:
            result.findings.extend(rule_cls().check(ctx))
        except RecursionError:
            result.rule_errors.append(f"{rule_cls.code}: the file is nested too deeply to analyse")
        except Exception as exc:  # one broken rule must not take the others down
            log.exception("rule %s crashed on %s", rule_cls.code, path)
            result.rule_errors.append(f"{rule_cls.code}: internal error: {type(exc).__name__}: {exc}")
    try:
        result.training_loops = [source.span(loop.node) for loop in ctx.flow.training_loops()]
    except Exception:
        log.exception("training loop detection failed on %s", path)
    result.findings.sort(key=Finding.sort_key)
    return result

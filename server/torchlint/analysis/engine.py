"""Run every rule over one file: parse -> resolve -> (flow, lazily) -> rules -> findings."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..rules import all_rules
from .context import FileContext
from .findings import Finding, Severity, Span, not_analysed
from .flow import BudgetExhausted
from .incremental import merge, snapshot
from .incremental import plan as incremental_plan
from .resolve import SemanticModel
from .source import SourceFile
from .workspace import Workspace

log = logging.getLogger("torchlint")

# TorchFix's trick: files that never name torch cannot hold a torch bug.
_MENTIONS_TORCH = re.compile(r"\b(torch|lightning|pytorch_lightning|torchvision|nn\.Module)\b")


@dataclass
class AnalysisResult:
    findings: list[Finding] = field(default_factory=list)
    training_loops: list[Span] = field(default_factory=list)
    rule_errors: list[str] = field(default_factory=list)


def analyze(
    path: str, text: str, workspace: Workspace, codes: set[str] | None = None, incremental: bool = False
) -> AnalysisResult:
    """Findings of the enabled rules (`codes`, None = all) for `text`; never raises for bad input.

    `incremental` (the editor path): re-analyse only the statements the edit since the last
    call for `path` can affect (`incremental.py`); the result is the same."""
    result = AnalysisResult()
    workspace.begin(path)
    source = workspace.source_for_text(path, text)
    if source.syntax_error is not None:
        err = source.syntax_error
        result.findings.append(Finding("syntax-error", err.message, path, err.span, Severity.ERROR))
    if not _MENTIONS_TORCH.search(text):
        workspace.take_snapshot(path)
        return result
    key = frozenset(codes) if codes is not None else None
    prev = workspace.take_snapshot(path) if incremental else None
    part = None
    too_deep: list[str] = []  # rules that gave up on code nested deeper than Python's stack
    try:
        if prev is not None and workspace.unchanged_since(prev.deps, prev.files):
            part = incremental_plan(prev, source, key)
        if part is None:
            model = workspace.model_for_text(path, text, fresh=True)
            findings, loops, result.rule_errors, too_deep = _run_rules(path, model.source, model, workspace, codes)
            deps: dict[str, object] = {}
            files = None
        else:
            subset = SourceFile(path, text, part.subset, None, source.lines)
            # the whole file's model is built only if another file asks for it
            sub = SemanticModel(subset, workspace, workspace.module_name(Path(path).resolve()))
            whole = {r.code for r in all_rules() if r.whole_file and (codes is None or r.code in codes)}
            local = {r.code for r in all_rules() if codes is None or r.code in codes} - whole
            findings, loops, result.rule_errors, too_deep = _run_rules(path, subset, sub, workspace, local)
            findings, loops = merge(part, source, findings, loops)
            if whole:
                model = workspace.model_for_text(path, text, fresh=True)
                ctx = FileContext(model.source, model, workspace)
                more, errors, deep = _check(ctx, path, whole)
                findings = sorted([f for f in findings if f.code not in whole] + more, key=Finding.sort_key)
                result.rule_errors += errors
                too_deep += deep
            deps, files = prev.deps, prev.files  # the findings kept still rest on what they read
    except RecursionError:  # the semantic model of code nested deeper than the stack allows
        result.findings.append(_too_deep_note(path, ["every rule"]))
        return result
    if too_deep:
        # a note, not an internal error (valid code can nest this deep); nothing is kept for the
        # next edit, whose analysis is then a full one and says so again
        findings.append(_too_deep_note(path, too_deep))
        incremental = False
    if incremental:
        workspace.add_dependencies(path, deps)
        scanned = workspace.scanned_files()
        snap = snapshot(
            source, findings, loops, key, workspace.dependency_models(path), scanned if scanned is not None else files
        )
        workspace.keep_snapshot(path, snap)
    if source.path != path:
        # parsed earlier under another spelling of its path (as the import of another file):
        # findings name the file as it was asked for
        findings = [_respelled(f, source.path, path) for f in findings]
    result.findings.extend(findings)
    result.findings.sort(key=Finding.sort_key)
    result.training_loops = loops
    return result


def _respelled(f: Finding, old: str, new: str) -> Finding:
    related = tuple(replace(r, path=new) if r.path == old else r for r in f.related)
    return replace(f, path=new if f.path == old else f.path, related=related)


def _run_rules(path: str, source: SourceFile, model: SemanticModel, workspace: Workspace, codes: set[str] | None):
    exhausted: dict = {}  # functions whose analysis budget ran out
    while True:
        try:
            return _run_rules_once(path, source, model, workspace, codes, exhausted)
        except BudgetExhausted as exc:
            # ran out while a rule asked about it: analyse again with that function left out,
            # so that no finding rests on part of its analysis (a function out of budget while
            # its graph is built is left out on the spot, without starting again)
            exhausted[exc.scope] = exc.budget


def _run_rules_once(
    path: str, source: SourceFile, model: SemanticModel, workspace: Workspace, codes: set[str] | None, exhausted: dict
):
    """(findings, training loops, internal errors, codes of the rules the nesting defeated)"""
    ctx = FileContext(source, model, workspace, exhausted=exhausted)
    findings, errors, too_deep = _check(ctx, path, codes)
    loops: list[Span] = []
    try:
        loops = [source.span(loop.node) for loop in ctx.flow.training_loops()]
    except RecursionError:
        pass  # the rules that need the loops said so
    except Exception:
        log.exception("training loop detection failed on %s", path)
    findings.extend(ctx.flow.budget_notes())  # one TL001 note per function left out
    return findings, loops, errors, too_deep


def _check(ctx: FileContext, path: str, codes: set[str] | None):
    """(findings, internal errors, codes of the rules the nesting defeated) of the rules in `codes`"""
    findings: list[Finding] = []
    errors: list[str] = []
    too_deep: list[str] = []
    for rule_cls in all_rules():
        if codes is not None and rule_cls.code not in codes:
            continue
        try:
            findings.extend(rule_cls().check(ctx))
        except RecursionError:
            too_deep.append(rule_cls.code)
        except Exception as exc:  # one broken rule must not take the others down
            log.exception("rule %s crashed on %s", rule_cls.code, path)
            errors.append(f"{rule_cls.code}: internal error: {type(exc).__name__}: {exc}")
    return findings, errors, too_deep


def _too_deep_note(path: str, rules: list[str]) -> Finding:
    return not_analysed(
        path,
        f"the code is nested too deeply to analyse (deeper than Python's stack allows): {', '.join(rules)} skipped",
    )

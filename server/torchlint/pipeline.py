"""One file's findings as the user configured them: the one pipeline the editor and the CLI share.

    text -> guards (too large, not Unicode: TL001) -> parse -> rules -> noqa
         -> select/ignore -> severity -> report

It sits above `rules/` and `analysis/` (ruff's linter.rs above its rules): `analysis/` knows no
rule, `rules/` ask `analysis/` about the code, and only this module runs the rules and applies
the configuration. Which codes are on for a file is decided once, before the rules run (a rule
that is off is not run), and the same decision filters the pipeline's own notes.
"""

from __future__ import annotations

import ast
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

from .analysis.cfg import BudgetExhausted
from .analysis.context import FileContext
from .analysis.findings import SYNTAX_ERROR, Finding, Position, Severity, Span, not_analysed
from .analysis.incremental import merge, snapshot
from .analysis.incremental import plan as incremental_plan
from .analysis.resolve import SemanticModel
from .analysis.source import SourceFile, lone_surrogate
from .analysis.workspace import Workspace
from .codes import all_codes, all_rules
from .config import Config
from .suppression import Suppressions

log = logging.getLogger("torchlint")

MAX_ANALYSED_CHARS = 2_000_000  # about 50,000 lines: several seconds of analysis

# TorchFix's trick: files that never name torch cannot hold a torch bug.
_MENTIONS_TORCH = re.compile(r"\b(torch|lightning|pytorch_lightning|torchvision|nn\.Module)\b")


@dataclass
class FileReport:
    findings: list[Finding] = field(default_factory=list)
    training_loops: list[Span] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # rules that crashed (logged, not fatal)


def lint(path: str, text: str, workspace: Workspace, config: Config, incremental: bool = False) -> FileReport:
    """The configured findings of `text` (the file `path`); never raises for bad input.

    `incremental` (the editor path): re-analyse only the statements the edit since the last
    call for `path` can affect (`analysis/incremental.py`); the result is the same."""
    enabled = config.enabled_codes(all_codes(), path)
    note = _unanalysable(path, text)
    if note is not None:
        return FileReport(configure([note], config, enabled))
    rules = frozenset(r.code for r in all_rules() if r.code in enabled)
    found = _analyze(path, text, workspace, rules, incremental)
    findings = configure(found.findings, config, enabled, Suppressions(text))
    return FileReport(findings, found.training_loops, found.errors)


def configure(
    findings: list[Finding], config: Config, enabled: frozenset[str], noqa: Suppressions | None = None
) -> list[Finding]:
    """The last steps, once per finding: noqa, select/ignore (`enabled`: the codes on for the
    file), severity. Findings made without analysing a file (it could not be read) take them too."""
    out = []
    for f in findings:
        if (noqa is not None and noqa.suppressed(f)) or f.code not in enabled:
            continue
        sev = config.severity_for(f.code, f.severity)
        out.append(replace(f, severity=sev) if sev != f.severity else f)
    return out


def configure_unread(findings: list[Finding], config: Config, path: str) -> list[Finding]:
    """`configure` for notes about a file that was never analysed (no text, no noqa)."""
    return configure(findings, config, config.enabled_codes(all_codes(), path))


def _unanalysable(path: str, text: str) -> Finding | None:
    """The TL001 note for text the analysis must not take on."""
    if len(text) > MAX_ANALYSED_CHARS:
        # keeps an editor responsive on generated or data-like files: say so instead
        return not_analysed(
            path, f"the file has {len(text):,} characters (torchlint analyses files up to {MAX_ANALYSED_CHARS:,})"
        )
    surrogate = lone_surrogate(text)
    if surrogate is not None:
        # an editor's buffer may hold one (a file on disk cannot: decode() says it is not text);
        # Python's parser refuses the whole text, and no encoding can save it
        at = surrogate.at
        return not_analysed(
            path, f"the text is not valid Unicode: {surrogate}", Span(at, Position(at.line, at.column + 1))
        )
    return None


@dataclass
class _Analysis:
    findings: list[Finding] = field(default_factory=list)
    training_loops: list[Span] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _analyze(path: str, text: str, workspace: Workspace, codes: frozenset[str], incremental: bool) -> _Analysis:
    """parse -> rules: the findings of the rules in `codes`, unconfigured."""
    result = _Analysis()
    workspace.begin(path)
    source = workspace.source_for_text(path, text)
    if source.syntax_error is not None:
        err = source.syntax_error
        result.findings.append(Finding(SYNTAX_ERROR, err.message, path, err.span, Severity.ERROR))
    if not _MENTIONS_TORCH.search(text):
        workspace.take_snapshot(path)
        return result
    prev = workspace.take_snapshot(path) if incremental else None
    # the file list the previous analysis looked for importers in (Snapshot keeps it untyped)
    prev_files = cast("list[str] | None", prev.files) if prev is not None else None
    part = None
    too_deep: list[str] = []  # rules that gave up on code nested deeper than Python's stack
    try:
        if prev is not None and workspace.unchanged_since(prev.deps, prev_files):
            part = incremental_plan(prev, source, codes)
        if prev is None or part is None:
            model = workspace.model_for_text(path, text, fresh=incremental)
            findings, loops, result.errors, too_deep = _run_rules(path, model.source, model, workspace, codes)
            deps: dict[str, object] = {}
            files: list[str] | None = None
        else:
            subset = SourceFile(path, text, part.subset, None, source.lines, facts=source.facts)
            # the whole file's model is built only if another file asks for it
            sub = SemanticModel(subset, workspace, workspace.module_name(Path(path).resolve()))
            whole = {r.code for r in all_rules() if r.whole_file and r.code in codes}
            findings, loops, result.errors, too_deep = _run_rules(path, subset, sub, workspace, codes - whole)
            findings, loops = merge(part, source, findings, loops)
            if whole:
                model = workspace.model_for_text(path, text, fresh=True)
                ctx = FileContext(model.source, model, workspace)
                more, errors, deep = _check(ctx, path, whole)
                findings = sorted([f for f in findings if f.code not in whole] + more, key=Finding.sort_key)
                result.errors += errors
                too_deep += deep
            deps, files = prev.deps, prev_files  # the findings kept still rest on what they read
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
            source, findings, loops, codes, workspace.dependency_models(path), scanned if scanned is not None else files
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


_RuleRun = tuple[list[Finding], list[Span], list[str], list[str]]


def _run_rules(
    path: str, source: SourceFile, model: SemanticModel, workspace: Workspace, codes: frozenset[str]
) -> _RuleRun:
    exhausted: dict[ast.AST, int] = {}  # functions whose analysis budget ran out
    while True:
        try:
            return _run_rules_once(path, source, model, workspace, codes, exhausted)
        except BudgetExhausted as exc:
            # ran out while a rule asked about it: analyse again with that function left out,
            # so that no finding rests on part of its analysis (a function out of budget while
            # its graph is built is left out on the spot, without starting again)
            exhausted[exc.scope] = exc.budget


def _run_rules_once(
    path: str,
    source: SourceFile,
    model: SemanticModel,
    workspace: Workspace,
    codes: frozenset[str],
    exhausted: dict[ast.AST, int],
) -> _RuleRun:
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


def _check(ctx: FileContext, path: str, codes: frozenset[str] | set[str]) -> tuple[list[Finding], list[str], list[str]]:
    """(findings, internal errors, codes of the rules the nesting defeated) of the rules in `codes`"""
    findings: list[Finding] = []
    errors: list[str] = []
    too_deep: list[str] = []
    for rule_cls in all_rules():
        if rule_cls.code not in codes:
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

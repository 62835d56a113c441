"""The one entry point the CLI and the language server share: text in, configured findings out."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from .analysis.engine import analyze
from .analysis.findings import Finding, Position, Span, not_analysed
from .analysis.source import lone_surrogate
from .analysis.workspace import Workspace
from .config import Config
from .rules import all_rules, get_rule
from .suppression import Suppressions

log = logging.getLogger("torchlint")

MAX_ANALYSED_CHARS = 2_000_000  # about 50,000 lines: several seconds of analysis


@dataclass
class FileReport:
    findings: list[Finding] = field(default_factory=list)
    training_loops: list[Span] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # rules that crashed (logged, not fatal)


class Checker:
    """Holds the workspace state; not thread-safe (use one analysis thread)."""

    def __init__(
        self,
        config: Config | None = None,
        root: Path | str | None = None,
        workspace: Workspace | None = None,
        incremental: bool = False,
    ):
        """`incremental`: the editor path, where each file is analysed again after every edit
        and the next analysis re-uses what the edit cannot have changed."""
        self.config = config or Config()
        self.incremental = incremental
        self.workspace = workspace or Workspace(
            root or self.config.root, self.config.interpreter, extra_paths=self.config.extra_paths
        )

    def update_config(self, config: Config) -> None:
        if (config.interpreter, config.extra_paths) != (self.config.interpreter, self.config.extra_paths):
            self.workspace = Workspace(
                self.workspace.root, config.interpreter, self.workspace.use_jedi, config.extra_paths
            )
        self.config = config

    def set_overlay(self, path: str, text: str | None) -> None:
        """The editor's text of `path` (None: the file on disk again)."""
        self.workspace.set_overlay(path, text)

    def invalidate(self, path: str) -> None:
        self.workspace.invalidate(path)

    def dependents(self, path: str) -> set[str]:
        return self.workspace.dependents(path)

    def check(self, path: str, text: str) -> list[Finding]:
        return self.check_file(path, text).findings

    def check_file(self, path: str, text: str) -> FileReport:
        if len(text) > MAX_ANALYSED_CHARS:
            # keeps an editor responsive on generated or data-like files: say so instead
            note = not_analysed(
                path, f"the file has {len(text):,} characters (torchlint analyses files up to {MAX_ANALYSED_CHARS:,})"
            )
            return FileReport([note] if self.config.is_enabled(note.code, path) else [])
        surrogate = lone_surrogate(text)
        if surrogate is not None:
            # an editor's buffer may hold one (a file on disk cannot: decode() says it is not text);
            # Python's parser refuses the whole text, and no encoding can save it
            at = surrogate.at
            note = not_analysed(
                path, f"the text is not valid Unicode: {surrogate}", Span(at, Position(at.line, at.column + 1))
            )
            return FileReport([note] if self.config.is_enabled(note.code, path) else [])
        codes = {r.code for r in all_rules() if self.config.is_enabled(r.code, path)}
        result = analyze(path, text, self.workspace, codes, self.incremental)
        noqa = Suppressions(text)
        findings = []
        for f in result.findings:
            if not self.config.is_enabled(f.code, path) or noqa.suppressed(f):
                continue
            rule = get_rule(f.code)
            default = rule.severity if rule else f.severity
            sev = self.config.severity_for(f.code, default)
            findings.append(replace(f, severity=sev) if sev != f.severity else f)
        return FileReport(findings, result.training_loops, result.rule_errors)

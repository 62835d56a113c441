"""Everything a rule may ask about one file, built once and shared by all rules."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from .findings import Finding, Fix, Related, Span
from .resolve import SemanticModel
from .source import SourceFile

if TYPE_CHECKING:
    from ..rules.base import Rule
    from .flow import FlowModel
    from .workspace import Workspace


@dataclass
class FileContext:
    source: SourceFile
    model: SemanticModel
    workspace: Workspace
    findings: list[Finding] = field(default_factory=list)
    # functions whose analysis budget ran out in an earlier attempt (cfg.BudgetExhausted)
    exhausted: dict[ast.AST, int] = field(default_factory=dict)

    @cached_property
    def flow(self) -> FlowModel:
        from .flow import FlowModel

        return FlowModel(self.model, self.exhausted)

    @property
    def path(self) -> str:
        return self.source.path

    def span(self, node_or_span: ast.AST | Span) -> Span:
        return node_or_span if isinstance(node_or_span, Span) else self.source.span(node_or_span)

    def finding(
        self,
        rule: type[Rule] | Rule,
        at: ast.AST | Span,
        message: str,
        fix: Fix | None = None,
        related: Iterable[Related] = (),
        data: dict | None = None,
    ) -> Finding:
        return Finding(
            code=rule.code,
            message=message,
            path=self.source.path,
            span=self.span(at),
            severity=rule.severity,
            fix=fix,
            related=tuple(related),
            data=data or {},
        )

    def related(self, model: SemanticModel, node: ast.AST, message: str) -> Related:
        return Related(model.source.path, model.source.span(node), message)

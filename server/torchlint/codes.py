"""Every code torchlint reports, in one place (../shared/RULES.md is the contract).

Two codes come from the pipeline itself, not from a rule's check:
- `syntax-error`: code that does not parse. Always reported: `select`, `ignore` and `noqa`
  cannot hide it, and it counts for the exit code like any finding.
- `TL001 file-not-analysed`: a file, notebook cell or function was skipped, and why (too
  large, not text, not a regular file, analysis budget). Shown whatever `select` says,
  hidden only by `ignore` (not by `noqa`); a note, never a reason for `torchlint check` to fail.

The rule codes are a registry: each module under `rules/` registers its class with
`register`, and the registry loads them all on first use (TL001 is registered there too,
for its documentation; it has no check of its own).

This module imports nothing from torchlint at import time: `analysis/` reads the special
codes from it, and the registry loads `rules/` only when asked.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .analysis.findings import Severity
    from .rules.base import Rule

SYNTAX_ERROR = "syntax-error"
NOT_ANALYSED = "TL001"
# No noqa comment hides these: they say the code was not read, not that it is wrong.
NOT_SUPPRESSIBLE = frozenset({SYNTAX_ERROR, NOT_ANALYSED})

# Runtime findings of the overfit check that confirm a static rule's finding on the same line
# (one bug, one diagnostic): a plain list of layers (TL401), gradients never cleared (TL101).
RUNTIME_TWINS = {"TLR04": "TL401", "TLR07": "TL101"}

_SYNTAX_ERROR_SUMMARY = "The file cannot be parsed."

_REGISTRY: dict[str, type[Rule]] = {}
_RULES_PACKAGE = "torchlint.rules"


def register(cls: type[Rule]) -> type[Rule]:
    if cls.code in _REGISTRY:
        raise ValueError(f"duplicate rule code {cls.code}")
    _REGISTRY[cls.code] = cls
    return cls


def _load() -> None:
    if _REGISTRY:
        return
    package = importlib.import_module(_RULES_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith(("tl", "TL")):
            importlib.import_module(f"{_RULES_PACKAGE}.{info.name}")


def all_rules() -> list[type[Rule]]:
    """Every registered rule (TL001 included), by code."""
    _load()
    return [_REGISTRY[c] for c in sorted(_REGISTRY)]


def get_rule(code: str) -> type[Rule] | None:
    _load()
    return _REGISTRY.get(code.upper())


@dataclass(frozen=True)
class CodeInfo:
    """What a report says about a code (SARIF's rule list)."""

    code: str
    name: str
    severity: Severity  # the default
    summary: str
    doc: str | None = None
    url: str | None = None


def catalogue() -> list[CodeInfo]:
    """Every code torchlint can report: the rules', then `syntax-error`."""
    from .analysis.findings import Severity

    rules = [CodeInfo(r.code, r.name, r.severity, r.summary(), r.doc(), r.url()) for r in all_rules()]
    return [*rules, CodeInfo(SYNTAX_ERROR, SYNTAX_ERROR, Severity.ERROR, _SYNTAX_ERROR_SUMMARY)]


def all_codes() -> list[str]:
    return [*(r.code for r in all_rules()), SYNTAX_ERROR]

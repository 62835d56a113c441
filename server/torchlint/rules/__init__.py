"""The rules: one module per rule (or small family), each registering its class by code with
`register` (the registry is `torchlint.codes`, where every code lives)."""

from __future__ import annotations

from ..codes import all_rules, get_rule, register
from .base import Rule

__all__ = ["Rule", "all_rules", "get_rule", "register"]

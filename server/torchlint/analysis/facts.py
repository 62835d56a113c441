"""Facts computed once per object (an AST node, a semantic model) and dropped with it.

The editor's re-parse (`source.reparse`) keeps the nodes of the statements an edit left alone,
and the models of unchanged files outlive one analysis: a fact that depends on the object alone
(the nodes of a function's scope, the names a class reads) is worth keeping as long as the object
lives, whichever analysis asks. The object is held weakly, so a fact must not hold its own key
(it would never be dropped).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar
from weakref import WeakKeyDictionary

K = TypeVar("K")
V = TypeVar("V")


class Facts(Generic[K, V]):
    """`compute(key)`, remembered for as long as `key` lives."""

    def __init__(self, compute: Callable[[K], V]):
        self._compute = compute
        self._known: WeakKeyDictionary[K, V] = WeakKeyDictionary()

    def __call__(self, key: K) -> V:
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = self._compute(key)
        return known

    def known_or(self, key: K, compute: Callable[[], V]) -> V:
        """The fact, or `compute()` when nothing knows it yet: another way to the same value
        (one that can use what the caller holds)."""
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = compute()
        return known

"""Train/eval mode as dataflow over a function's graph: which modes a model may be in before
each statement, and how a function leaves the models it switches (its summary's mode events)."""

from __future__ import annotations

import ast
from collections import deque
from typing import TYPE_CHECKING

from .events import Ev, Event
from .resolve import SemanticModel, dotted

if TYPE_CHECKING:
    from .cfg import CFG, Node

_ENTRY, _TRAIN, _EVAL, _UNKNOWN = 1, 2, 4, 8
_MODE_BITS = {Ev.TRAIN: _TRAIN, Ev.EVAL: _EVAL, Ev.MODE_UNKNOWN: _UNKNOWN}
_MODE_SETS = [
    frozenset(
        name
        for bit, name in ((_ENTRY, "entry"), (_TRAIN, "train"), (_EVAL, "eval"), (_UNKNOWN, "unknown"))
        if mask & bit
    )
    for mask in range(16)
]


def _alias_mode(cfg: CFG, node: Node, e: Event, target: str) -> int:
    """`target = source`: the mode `source` is in when the assignment runs. Its "entry" (the
    caller's mode of *another* name) and alias cycles are unknown."""
    source = dotted(e.origin) if e.origin is not None else None
    if not source or source in cfg.aliasing:
        return _UNKNOWN
    cfg.aliasing.add(target)
    try:
        states = mode_states(cfg, source).get(node.id, frozenset({"entry"}))
    finally:
        cfg.aliasing.discard(target)
    if states == {"entry"}:
        return _ENTRY  # `source` is never switched here: as if `target` were untouched
    mask = sum(bit for bit, name in ((_TRAIN, "train"), (_EVAL, "eval"), (_UNKNOWN, "unknown")) if name in states)
    return mask | (_UNKNOWN if "entry" in states else 0) or _UNKNOWN


def mode_states(cfg: CFG, target: str) -> dict[int, frozenset[str]]:
    """For each node, the modes `target` may be in *before* it runs:
    "entry" (untouched since the function started), "train", "eval", "unknown".

    Loops are assumed to run at least once (as `for epoch in range(n)` does): what
    follows a loop sees the state its body left, not the state from before it.
    Computed once per (graph, target): summaries and rules ask the same questions.
    """
    cached = cfg.mode_cache.get(target)
    if cached is None:
        cached = cfg.mode_cache[target] = {n: _MODE_SETS[m] for n, m in _mode_masks(cfg, target).items()}
    return cached


def _mode_masks(cfg: CFG, target: str) -> dict[int, int]:
    """The least fixpoint of the mode equations, as bit masks (a worklist over the graph)."""
    nodes = cfg.nodes
    cfg.charge(len(nodes))
    effect: dict[int, int] = {}  # a node that switches `target` sets its mode, whatever came before
    for node in nodes:
        for e in node.events:
            if e.target == target and e.kind in _MODE_BITS:
                effect[node.id] = _MODE_BITS[e.kind]
            elif e.target == target and e.kind == Ev.ALIAS:
                effect[node.id] = _alias_mode(cfg, node, e, target)
    bodies = {loop.header: loop.body for loop in cfg.loops.values()}
    back_preds = {h: [p for p in nodes[h].pred if p in body] for h, body in bodies.items()}
    headers_of: dict[int, list[int]] = {}  # node -> the headers whose exit state it feeds
    for h, preds in back_preds.items():
        for p in preds:
            headers_of.setdefault(p, []).append(h)
    entry = cfg.entry.id
    before: dict[int, int] = {entry: _ENTRY}
    after: dict[int, int] = {}
    # header -> the modes its back edges bring: kept up to date as they grow (`after` only
    # grows), not re-collected from every back edge each time the header is visited
    back_of: dict[int, int] = {}
    queue, queued = deque([entry]), {entry}
    while queue:
        n = queue.popleft()
        queued.discard(n)
        cfg.charge(1 + len(nodes[n].succ))
        out = effect.get(n, before.get(n, 0))
        changed = after.get(n) != out
        after[n] = out
        body = bodies.get(n)
        for s in nodes[n].succ:
            if body is not None and s not in body:
                # leaving the loop: the state the last iteration left, seen through the header
                back = back_of.get(n, 0)
                if not back:
                    continue
                flow = effect.get(n, back)
            else:
                flow = out
            prev = before.get(s)
            merged = (prev or 0) | flow
            if prev is None or merged != prev or s not in after:
                before[s] = merged
                if s not in queued:
                    queue.append(s)
                    queued.add(s)
        if changed:
            for h in headers_of.get(n, ()):
                back_of[h] = back_of.get(h, 0) | out
                if h not in queued:
                    queue.append(h)
                    queued.add(h)
    return before


def mode_entry_events(cfg: CFG, model: SemanticModel) -> list[Event]:
    """A function that puts a model in a mode before each of its own training steps
    (`model.train()` at the top of `train_one_epoch`, or `model.eval()` in a linear probe
    that trains a frozen backbone in eval mode on purpose) chooses the mode its training runs
    in, whatever mode it was called in: say so before its step events."""
    steps = [n for n in cfg.nodes if n.has(Ev.BACKWARD) or n.has(Ev.STEP)]
    if not steps:
        return []
    out = []
    for kind, mode in ((Ev.TRAIN, "train"), (Ev.EVAL, "eval")):
        for target in sorted({e.target for n in cfg.nodes for e in n.events if e.kind == kind and e.target}):
            states = mode_states(cfg, target)
            if all(_mode_before_step(n, target, states.get(n.id, frozenset())) == {mode} for n in steps):
                first = next(e for n in cfg.nodes for e in n.events if e.kind == kind and e.target == target)
                out.append(Event(kind, first.call, target, None, first.origin or first.call, model))
    return out


def _mode_before_step(node: Node, target: str, state: frozenset[str]) -> frozenset[str]:
    for e in node.events:
        if e.kind in (Ev.BACKWARD, Ev.STEP):
            return state
        if e.target == target:
            state = (
                frozenset({{Ev.TRAIN: "train", Ev.EVAL: "eval"}.get(e.kind, "unknown")})
                if e.kind in (Ev.TRAIN, Ev.EVAL, Ev.MODE_UNKNOWN)
                else state
            )
    return state


def mode_exit_events(cfg: CFG, model: SemanticModel) -> list[Event]:
    """How a function leaves each model it touches: eval on every path that changed it
    (EVAL), train on some path (TRAIN: a helper that may restore counts as restoring),
    or undecidable (MODE_UNKNOWN)."""
    targets: dict[str, ast.AST] = {}
    for node in cfg.nodes:
        for e in node.events:
            if e.kind in (Ev.TRAIN, Ev.EVAL, Ev.MODE_UNKNOWN) and e.target and e.target not in targets:
                targets[e.target] = e.origin or e.call
    out = []
    for target, first in targets.items():
        states = mode_states(cfg, target).get(cfg.exit.id, frozenset())
        eval_node = next(
            (e.origin or e.call for n in cfg.nodes for e in n.events if e.target == target and e.kind == Ev.EVAL), first
        )
        if "unknown" in states:
            out.append(Event(Ev.MODE_UNKNOWN, first, target, None, first, model))
        elif "train" in states:
            out.append(Event(Ev.TRAIN, first, target, None, first, model))
        elif "eval" in states:
            out.append(Event(Ev.EVAL, eval_node, target, None, eval_node, model))
    return out

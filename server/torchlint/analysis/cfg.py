"""Control-flow graphs of functions and the loops in them, built within a budget of work.

Each function (and the module body) becomes a graph whose nodes are statements (compound
statements contribute a header node: the `if` test, the loop header, the `with` items). Rules
ask it path questions ("is there a way from this `eval()` around the loop to the next
`backward()` that never passes a `train()`?") rather than matching statement lists.

A node carries the training events its statement performs. `flow.FlowModel` builds the
graphs and reads those events: each graph is handed the FlowModel that builds it and asks it
for them, so this module imports flow only for type checking (flow imports this one).
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from .events import Ev, Event
from .outputs import TAINT_BUDGET
from .resolve import FunctionNode

if TYPE_CHECKING:
    from .flow import FlowModel

LoopNode = ast.For | ast.AsyncFor | ast.While
# Work allowed per function (and for the module-level code), in steps: a CFG node or edge
# built, a statement or call whose events are read, a node visited by a dataflow or a path
# search. A count, not a clock: whether a function is analysed does not depend on the machine.
# The largest real training functions take under 20,000 (timm's train.py `main`, 740 lines:
# 17,000; yolov5's `train`: 2,000); a loop of generated if/else branches about 30 per branch,
# so about 8,000 branches fit.
FUNCTION_BUDGET = 250_000


class BudgetExhausted(BaseException):
    """A function's analysis ran out of its budget. A BaseException, so that a rule's
    `except Exception` cannot swallow it: the pipeline must see it to analyse the file again
    with that function left out (see `pipeline._run_rules`)."""

    def __init__(self, scope: ast.AST, budget: int):
        super().__init__(scope, budget)
        self.scope = scope
        self.budget = budget


@dataclass
class Node:
    id: int
    stmt: ast.stmt | None  # None for the entry and the exit
    events: list[Event] = field(default_factory=list)
    succ: set[int] = field(default_factory=set)
    pred: set[int] = field(default_factory=set)
    loops: tuple[ast.AST, ...] = ()  # enclosing loops, outermost first

    @property
    def statement(self) -> ast.stmt:
        """The statement of a node that has one (every node but the entry and the exit)."""
        return cast(ast.stmt, self.stmt)

    def has(self, kind: Ev, target: str | None = None, direct_only: bool = False) -> bool:
        return any(
            e.kind == kind and (target is None or e.target == target) and (e.direct or not direct_only)
            for e in self.events
        )


@dataclass(eq=False)
class Loop:
    node: LoopNode
    header: int
    body: set[int]  # node ids of the body (nested loops included), header excluded
    cfg: CFG
    _index: dict[Ev, list[tuple[Node, Event]]] | None = field(default=None, repr=False)

    def _by_kind(self) -> dict[Ev, list[tuple[Node, Event]]]:
        # one pass over the body for every question: rules ask per event, not per loop
        if self._index is None:
            nodes = self.cfg.nodes
            self.cfg.charge(len(self.body))
            index: dict[Ev, list[tuple[Node, Event]]] = {}
            for i in sorted(self.body):
                for e in nodes[i].events:
                    index.setdefault(e.kind, []).append((nodes[i], e))
            self._index = index
        return self._index

    def events(self, kind: Ev, direct_only: bool = False) -> list[tuple[Node, Event]]:
        found = self._by_kind().get(kind, ())
        return [x for x in found if x[1].direct or not direct_only]

    def has(self, kind: Ev, direct_only: bool = False) -> bool:
        return any(e.direct or not direct_only for _, e in self._by_kind().get(kind, ()))

    @property
    def is_training(self) -> bool:
        return self.has(Ev.BACKWARD) or self.has(Ev.STEP)


class Iteration:
    """The nodes of one iteration of a loop (its body, without the back edge), or outside
    loops the function's straight-line statements; its direct backward and step nodes; and
    the path questions of TL102/TL104, answered for every node of it at once."""

    def __init__(self, cfg: CFG, region: set[int], leave: set[int]):
        self.cfg = cfg
        self.region = region
        self.leave = leave  # edges into these leave the iteration
        cfg.charge(len(region))
        self.backs = cfg.event_nodes(region, Ev.BACKWARD)
        self.steps = cfg.event_nodes(region, Ev.STEP)
        self._sets = {"backward": self.backs, "step": self.steps}
        self._answers: dict[tuple, dict[int, int]] = {}
        self._first: dict[str, int] = {}

    def reached_from(self, sources: str, blocked: tuple[str, ...] = ()) -> dict[int, int]:
        """node -> the first node (in source order) of `sources` ("backward" or "step")
        from which `cfg.reachable` reaches it, not passing the `blocked` kinds of node."""
        return self._answer(sources, blocked, False)

    def reaching(self, targets: str, blocked: tuple[str, ...] = ()) -> dict[int, int]:
        """node -> the first node (in source order) of `targets` that `cfg.reachable`
        reaches from it, not passing the `blocked` kinds of node."""
        return self._answer(targets, blocked, True)

    def first(self, kind: str) -> int:
        """The first node of `kind` ("backward" or "step") in source order."""
        if kind not in self._first:
            self._first[kind] = self.cfg.in_source_order(self._sets[kind])[0]
        return self._first[kind]

    def _answer(self, ends: str, blocked: tuple[str, ...], backward: bool) -> dict[int, int]:
        key = (ends, blocked, backward)
        hit = self._answers.get(key)
        if hit is None:
            stop = set().union(*(self._sets[b] for b in blocked)) if blocked else set()
            cfg = self.cfg
            hit = self._answers[key] = cfg.first_reaching(
                cfg.in_source_order(self._sets[ends]), self.region, self.leave, stop, backward
            )
        return hit


class CFG:
    def __init__(self, scope: FunctionNode | ast.Module, flow: FlowModel, dry: bool = False):
        self.scope = scope
        self.flow = flow
        self.nodes: list[Node] = []
        self.by_stmt: dict[ast.AST, Node] = {}
        self.loops: dict[ast.AST, Loop] = {}
        self.mode_cache: dict[str, dict[int, frozenset[str]]] = {}  # mode_states per target
        self.aliasing: set[str] = set()  # targets whose modes are being computed through an alias
        self.budget = FUNCTION_BUDGET
        self.steps = 0  # work done on this graph so far (see FUNCTION_BUDGET)
        self.taint_left = TAINT_BUDGET  # node visits left to the output-taint searches
        self._iterations: dict[int | None, Iteration] = {}
        self.entry = self._new(None, ())
        self.exit = self._new(None, ())
        if scope is None:
            return  # the empty graph of a function left out
        body = scope.body
        ends = self._block(body, [self.entry.id], ())
        self._link(ends, self.exit.id)
        # Events last, charged first (a statement and each of its calls): resolving calls and
        # summarising callees is the dearest part, and an oversized function is given up
        # before any of it. `dry`: only find out whether the graph fits.
        stmts = [n for n in self.nodes if n.stmt is not None]
        calls = flow.model.calls_in_statement
        self.charge(sum(1 + len(calls(n.statement)) for n in stmts))
        if not dry:
            for node in stmts:  # in the order the statements were met, as before
                node.events = flow.events_of(node.statement, self)

    @classmethod
    def empty(cls, scope: FunctionNode | ast.Module, flow: FlowModel) -> CFG:
        """Entry to exit, nothing between: what rules see of a function left out."""
        cfg = cls(None, flow)  # type: ignore[arg-type]
        cfg.scope = scope
        cfg._link([cfg.entry.id], cfg.exit.id)
        return cfg

    def charge(self, steps: int) -> None:
        self.steps += steps
        if self.steps > self.budget:
            raise BudgetExhausted(self.scope, self.budget)

    # -- construction ------------------------------------------------------
    def _new(self, stmt: ast.stmt | None, loops: tuple) -> Node:
        self.charge(1)
        node = Node(len(self.nodes), stmt, loops=loops)
        self.nodes.append(node)
        if stmt is not None:
            self.by_stmt[stmt] = node
        return node

    def _link(self, preds: Iterable[int], succ: int) -> None:
        nodes = self.nodes
        s = nodes[succ]
        for p in preds:
            self.charge(1)
            nodes[p].succ.add(succ)
            s.pred.add(p)

    def _block(self, stmts: list[ast.stmt], preds: list[int], loops: tuple, ctx: dict | None = None) -> list[int]:
        ctx = ctx or {}
        for stmt in stmts:
            preds = self._stmt(stmt, preds, loops, ctx)
        return preds

    def _stmt(self, stmt: ast.stmt, preds: list[int], loops: tuple, ctx: dict) -> list[int]:
        node = self._new(stmt, loops)
        self._link(preds, node.id)
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            inner = loops + (stmt,)
            first = len(self.nodes)
            loop_ctx = {**ctx, "continue": node.id, "break": []}
            ends = self._block(stmt.body, [node.id], inner, loop_ctx)
            self._link(ends, node.id)
            self.charge(len(self.nodes) - first)
            self.loops[stmt] = Loop(stmt, node.id, set(range(first, len(self.nodes))), self)
            after = [node.id]
            if isinstance(stmt, ast.While) and isinstance(stmt.test, ast.Constant) and stmt.test.value:
                after = []  # `while True:` leaves only through break
            after = self._block(stmt.orelse, after, loops, ctx) if stmt.orelse else after
            return after + loop_ctx["break"]
        if isinstance(stmt, ast.If):
            # an elif chain is one If nested in the orelse of the one before: follow it in a
            # loop (thousands of elifs would exhaust Python's recursion, and `a + b` of the
            # ends of each level would copy the ends of every later one)
            ends = []
            while True:
                ends += self._block(stmt.body, [node.id], loops, ctx)
                orelse = stmt.orelse
                if len(orelse) == 1 and isinstance(orelse[0], ast.If):
                    stmt = orelse[0]
                    cond = self._new(stmt, loops)
                    self._link([node.id], cond.id)
                    node = cond
                    continue
                if orelse:
                    ends += self._block(orelse, [node.id], loops, ctx)
                else:
                    ends.append(node.id)
                return ends
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            return self._block(stmt.body, [node.id], loops, ctx)
        if isinstance(stmt, (ast.Try, ast.TryStar)):
            start = len(self.nodes)
            body_ends = self._block(stmt.body, [node.id], loops, ctx)
            body_nodes = list(range(start, len(self.nodes))) or [node.id]
            handler_ends: list[int] = []
            for h in stmt.handlers:
                # any statement of the body may raise into any handler
                handler_ends += self._block(h.body, [node.id, *body_nodes], loops, ctx)
            ends = self._block(stmt.orelse, body_ends, loops, ctx) if stmt.orelse else body_ends
            ends = ends + handler_ends
            if stmt.finalbody:
                ends = self._block(stmt.finalbody, ends + body_nodes, loops, ctx)
            return ends
        if isinstance(stmt, ast.Match):
            ends = []
            for case in stmt.cases:
                ends += self._block(case.body, [node.id], loops, ctx)
            return ends + [node.id]
        if isinstance(stmt, (ast.Return, ast.Raise)):
            self._link([node.id], self.exit.id)
            return []
        if isinstance(stmt, ast.Break) and "break" in ctx:
            ctx["break"].append(node.id)
            return []
        if isinstance(stmt, ast.Continue) and "continue" in ctx:
            self._link([node.id], ctx["continue"])
            return []
        return [node.id]

    # -- queries -------------------------------------------------------------
    def reachable(
        self,
        starts: Iterable[int],
        within: set[int] | None = None,
        blocked: Callable[[Node], bool] = lambda n: False,
        avoid_edges_to: AbstractSet[int] = frozenset(),
    ) -> set[int]:
        """Nodes reachable from the successors of `starts`, staying `within`, not passing
        through `blocked` nodes (they are reached but not left), never entering `avoid_edges_to`."""
        seen: set[int] = set()
        queue = deque(s for start in starts for s in self.nodes[start].succ)
        while queue:
            n = queue.popleft()
            if n in seen or n in avoid_edges_to or (within is not None and n not in within):
                continue
            self.charge(1)
            seen.add(n)
            if blocked(self.nodes[n]):
                continue
            queue.extend(self.nodes[n].succ)
        return seen

    def first_reaching(
        self, ends: list[int], within: set[int], avoid_edges_to: set[int], blocked: set[int], backward: bool = False
    ) -> dict[int, int]:
        """`reachable([s], within, blocked, avoid_edges_to)` for every s of `ends` in one pass.

        Forward: node -> the first s (in the order of `ends`) that reaches it. Backward:
        node -> the first s that it reaches. A node found from an earlier s is not searched
        again from a later one (all it leads to was found then): each node is visited once
        per direction, instead of once per start."""
        nodes = self.nodes
        first: dict[int, int] = {}
        if not backward:
            for s in ends:
                stack = list(nodes[s].succ)
                while stack:
                    n = stack.pop()
                    if n in first or n in avoid_edges_to or n not in within:
                        continue
                    self.charge(1)
                    first[n] = s
                    if n not in blocked:
                        stack.extend(nodes[n].succ)
            return first
        for s in ends:
            if s in avoid_edges_to or s not in within:
                continue  # never reached, from anywhere
            # `s` itself is passed through even when blocked: it is where paths end
            stack = [s]
            while stack:
                c = stack.pop()
                self.charge(1)
                for p in nodes[c].pred:
                    if p in first:
                        continue
                    first[p] = s
                    if p in within and p not in avoid_edges_to and p not in blocked:
                        stack.append(p)
        return first

    def in_source_order(self, ids: Iterable[int]) -> list[int]:
        nodes = self.nodes
        return sorted(ids, key=lambda i: (nodes[i].statement.lineno, nodes[i].statement.col_offset, i))

    def innermost_loop(self, node: Node) -> Loop | None:
        return self.loops.get(node.loops[-1]) if node.loops else None

    def iteration(self, node: Node) -> Iteration:
        """The iteration that holds `node` (shared by all nodes of it)."""
        loop = self.innermost_loop(node)
        key = loop.header if loop is not None else None
        it = self._iterations.get(key)
        if it is None:
            if loop is not None:
                it = Iteration(self, loop.body, {loop.header})
            else:
                self.charge(len(self.nodes))
                it = Iteration(self, {n.id for n in self.nodes if not n.loops}, set())
            self._iterations[key] = it
        return it

    def iteration_of(self, node: Node) -> tuple[set[int], set[int]]:
        """The nodes of "the same iteration" as `node` and the edges that would leave it:
        the body of its innermost loop without the back edge, or, outside loops, the
        function's straight-line statements."""
        it = self.iteration(node)
        return it.region, set(it.leave)

    def training_step_around(self, node: Node) -> tuple[set[int], set[int], set[int], set[int]] | None:
        """(iteration, edges leaving it, backward nodes, step nodes) of the iteration that
        holds `node`, when that iteration runs both a backward and an optimizer step."""
        it = self.iteration(node)
        backs = it.backs - {node.id}
        steps = it.steps - {node.id}
        if not backs or not steps:
            return None
        return it.region, set(it.leave), backs, steps

    def event_nodes(self, ids: Iterable[int], kind: Ev, direct_only: bool = True) -> set[int]:
        return {i for i in ids if self.nodes[i].has(kind, direct_only=direct_only)}

    def first_event(self, ids: Iterable[int], kind: Ev) -> tuple[Node, Event]:
        node = min((self.nodes[i] for i in ids), key=lambda n: (n.statement.lineno, n.statement.col_offset))
        return node, next(e for e in node.events if e.kind == kind)

    def direct_events(self, kind: Ev) -> Iterator[tuple[Node, Event]]:
        for n in self.nodes:
            for e in n.events:
                if e.kind == kind and e.direct:
                    yield n, e

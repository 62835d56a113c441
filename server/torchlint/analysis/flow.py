"""The events of a training step, summaries of called functions, and the loops rules ask
about (training loops, evaluation loops), over the control-flow graphs of `cfg`.

A graph node carries the training events its own expressions perform, in evaluation order,
including the net effect of the functions it calls (`validate(model)` -> "switches `model`
to eval mode"): `FlowModel` reads them off statements and summarises callees, and keeps one
graph per function of its file (built when a rule first asks, left out when over budget).
"""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

# the graph's names stay importable from flow (FUNCTION_BUDGET is read in cfg: patch it there)
from .cfg import CFG, FUNCTION_BUDGET, BudgetExhausted, Loop, Node
from .events import Ev, Event
from .findings import Finding, Position, Span, not_analysed
from .gradmode import grad_mode
from .modes import mode_entry_events, mode_exit_events, mode_states
from .outputs import (
    LOADS,
    STATELESS_LAYERS,
    bound_by_loops,
    callee_reads,
    is_derived,
    iterates_counter,
    mutated,
    returns_value,
    runs_once,
    spend_taint,
    stmt_exprs,
    transfer,
    uses_values,
    written,
)
from .resolve import FunctionNode, FunctionRef, SemanticModel, argument_for, dotted, last_name
from .torchapi import (
    LOADER_WRAPPERS,
    MODULE_METHOD_NAMES,
    MODULE_PASS_THROUGH_METHODS,
    STEPLESS_LIBRARIES,
    Kind,
    name_hint,
)

__all__ = [
    "CFG",
    "FUNCTION_BUDGET",
    "BudgetExhausted",
    "FlowModel",
    "FlowSession",
    "Loop",
    "Node",
    "Summary",
    "receiver_text",
]

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_DEF_NAME = re.compile(r"(?:async\s+)?def\s+\w+")
_MAX_SUMMARY_DEPTH = 4


@dataclass
class Summary:
    """The net effect of calling a function, in terms of its parameters and globals."""

    events: list[Event] = field(default_factory=list)  # may-happen events (one of each kind/target)


@dataclass(eq=False)
class FlowSession:
    """What the flows of one analysis share: the flow of each file it reads, the summaries
    being made (a call back into one of them is recursion), and the functions left out."""

    # functions (of any file this analysis reads) whose budget ran out -> the budget:
    # analysed as if empty, called as opaque functions
    exhausted: dict[ast.AST, int] = field(default_factory=dict)
    in_progress: set[tuple] = field(default_factory=set)
    flows: dict[int, FlowModel] = field(default_factory=dict)  # id(semantic model) -> its flow

    def flow_for(self, model: SemanticModel, depth: int) -> FlowModel:
        """The flow of another file, shared by everything this analysis asks about it, asked
        at summary depth `depth`.

        Kept for one analysis only (not on the model): its CFGs embed summaries of yet other
        files, which may have changed by the next analysis."""
        flow = self.flows.get(id(model))
        if flow is None or flow.model is not model:
            flow = FlowModel(model, session=self)
        flow.depth = depth
        return flow


class FlowModel:
    def __init__(
        self, model: SemanticModel, exhausted: dict[ast.AST, int] | None = None, session: FlowSession | None = None
    ):
        self.model = model
        self.session = session if session is not None else FlowSession({} if exhausted is None else exhausted)
        self.session.flows[id(model)] = self
        self._exhausted = self.session.exhausted
        self._texts: dict[ast.AST, str] = {}
        self._finders: dict[int, tuple[tuple[str, ...], _SubstringFinder]] = {}
        self._no_grad: dict[ast.AST, bool] = {}  # node -> in_no_grad of its children
        self._cfgs: dict[ast.AST, CFG] = {}
        self._summaries: dict[tuple, Summary | None] = {}
        self._in_progress = self.session.in_progress
        self.depth = 0  # how deep in summaries of callees this flow is being asked (see FlowSession.flow_for)
        self._loop_scopes: set[ast.AST] | None = None
        self._training_loops: list[Loop] | None = None
        self._training_words: tuple[str, ...] | None = None
        self._evaluation_loops: list[tuple[Loop, Node, Event]] | None = None
        self._call_sites: dict[ast.AST, list[tuple[FlowModel, CFG, Node | None, ast.Call]]] = {}

    def in_no_grad(self, node: ast.AST) -> bool:
        """`in_no_grad(self.model, node)`, remembered for every ancestor it passes: an elif
        chain nests each branch one level deeper, so walking to the root for every call of a
        long chain is quadratic."""
        memo = self._no_grad
        path = []
        a = self.model.parent(node)
        found = False
        while a is not None:
            hit = memo.get(a)
            if hit is not None:
                found = hit
                break
            path.append(a)
            mode = grad_mode(self.model, a)
            if mode is not None:
                found = mode
                break
            a = self.model.parent(a)
        for a in path:
            memo[a] = found
        return found

    # -- graphs ----------------------------------------------------------------
    def cfg(self, scope: FunctionNode | ast.Module) -> CFG:
        cfg = self._cfgs.get(scope)
        if cfg is None:
            if scope in self._exhausted:
                cfg = CFG.empty(scope, self)
            else:
                try:
                    cfg = CFG(scope, self)
                except BudgetExhausted as exc:
                    if exc.scope is not scope:
                        raise  # a callee's, while summarising it: not this graph's to handle
                    # given up while building: nothing has used this graph yet
                    self._exhausted[scope] = exc.budget
                    cfg = CFG.empty(scope, self)
            self._cfgs[scope] = cfg
        return cfg

    def exhausted(self) -> list[FunctionNode | ast.Module]:
        """This file's scopes whose analysis budget ran out: those a rule built, and those
        none did whose graph alone is over the budget (so that a function too large to build
        is noted whichever rules ran)."""
        out = []
        for scope in self.scopes():
            if scope not in self._exhausted and scope not in self._cfgs:
                try:
                    CFG(scope, self, dry=True)
                except BudgetExhausted as exc:
                    self._exhausted[scope] = exc.budget
            if scope in self._exhausted:
                out.append(scope)
        return out

    def budget_notes(self) -> list[Finding]:
        """One TL001 note per scope of this file left out, at its `def` line (module-level
        code: at its first statement that is not a def, class or import)."""
        source = self.model.source
        out = []
        for scope in self.exhausted():
            if isinstance(scope, ast.Module):
                code = [s for s in scope.body if not isinstance(s, (*_DEFS, ast.Import, ast.ImportFrom))]
                at = (code or scope.body)[0]
                start = source.start(at)
                span = Span(start, source.line_end(start.line))
                what = "the module-level code"
            else:
                start = source.start(scope)
                m = _DEF_NAME.match(source.lines[start.line], start.column)
                span = Span(start, Position(start.line, m.end()) if m else source.line_end(start.line))
                what = f"`{scope.name}`"
            budget = self._exhausted[scope]
            reason = f"{what} has too many branches to analyse (budget of {budget:,} steps exhausted); its training-loop checks were skipped"
            out.append(not_analysed(source.path, reason, span))
        return out

    def steps(self) -> int:
        """The work done on this file's graphs (see FUNCTION_BUDGET)."""
        return sum(cfg.steps for cfg in self._cfgs.values())

    def scopes(self) -> list[FunctionNode | ast.Module]:
        return self.model.scopes

    def all_cfgs(self, mentioning: tuple[str, ...] = (), with_loops: bool = False) -> Iterator[CFG]:
        """CFGs of the file's scopes; building them is the expensive part, so callers
        name what a scope must contain to matter (a word in its text, a loop)."""
        for scope in self.scopes():
            if with_loops and not self._has_loop(scope):
                continue
            if mentioning and not self._mentions(scope, mentioning):
                continue
            yield self.cfg(scope)

    def _mentions(self, scope: FunctionNode | ast.Module, words: tuple[str, ...]) -> bool:
        """Does the scope's text contain one of `words` (as a substring)?"""
        text = self._scope_text(scope)
        if len(words) <= 16:
            return any(word in text for word in words)
        # Training words include the name of every function that steps: thousands in a
        # generated file, and a search per word and scope is quadratic. A word made of word
        # characters can only occur inside a run of them: look its run's pieces up instead.
        hit = self._finders.get(id(words))
        if hit is None:
            hit = self._finders[id(words)] = (words, _SubstringFinder(words))  # keeps `words` (and its id)
        return hit[1].found(text)

    def _has_loop(self, scope: ast.AST) -> bool:
        if self._loop_scopes is None:
            self._loop_scopes = {self.model.scope_of(n) for n in self.model.nodes_of(ast.For, ast.AsyncFor, ast.While)}
        return scope in self._loop_scopes

    def _scope_text(self, scope: FunctionNode | ast.Module) -> str:
        if isinstance(scope, ast.Module):
            return self.model.source.text
        text = self._texts.get(scope)
        if text is None:
            lines = self.model.source.lines
            text = self._texts[scope] = "\n".join(lines[scope.lineno - 1 : scope.end_lineno or scope.lineno])
        return text

    def loops(self) -> Iterator[Loop]:
        for cfg in self.all_cfgs(with_loops=True):
            yield from cfg.loops.values()

    def training_loops(self) -> list[Loop]:
        """The innermost loops that run both a backward pass and an optimizer step."""
        if self._training_loops is None:
            self._training_loops = self._find_training_loops()
        return self._training_loops

    def training_scope_words(self) -> tuple[str, ...]:
        """Words one of which a scope's text must contain to hold a training step: the
        step calls themselves, the names of this file's functions that contain one, and
        names imported from the workspace (their bodies are not in this text)."""
        if self._training_words is None:
            words = {"backward", "step"}
            text_of = self._scope_text
            for scope in self.scopes():
                if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    t = text_of(scope)
                    if "backward" in t or "step" in t:
                        words.add(scope.name)
            for local, q in self.model.imports.items():
                if q.split(".")[0] not in STEPLESS_LIBRARIES:
                    words.add(local)
            self._training_words = tuple(words)
        return self._training_words

    def training_candidate_loops(self) -> Iterator[Loop]:
        for cfg in self.all_cfgs(mentioning=self.training_scope_words(), with_loops=True):
            yield from cfg.loops.values()

    def _find_training_loops(self) -> list[Loop]:
        out = []
        for cfg in self.all_cfgs(mentioning=self.training_scope_words(), with_loops=True):
            steps = [l for l in cfg.loops.values() if l.has(Ev.BACKWARD) and l.has(Ev.STEP)]
            # the loops around one that steps (each loop names the loops around it: not a
            # scan of every loop for every loop)
            around = {outer for l in steps for outer in cfg.nodes[l.header].loops}
            for loop in steps:
                if loop.node in around or self._trains_only_through_looping_helpers(loop):
                    continue  # the loop that really steps is elsewhere (and is reported there)
                out.append(loop)
        return sorted(out, key=lambda l: l.node.lineno)

    def _trains_only_through_looping_helpers(self, loop: Loop) -> bool:
        """`for epoch in ...: train_one_epoch(...)`: every backward happens inside a called
        function that has its own loop."""

        def looping_helper(e: Event) -> bool:
            if e.via is None:
                return False
            flow = self if e.via.model is self.model else self.session.flow_for(e.via.model, self.depth)
            return flow._has_loop(e.via.node)

        backs = loop.events(Ev.BACKWARD)
        return bool(backs) and all(looping_helper(e) for _, e in backs)

    # -- events ----------------------------------------------------------------
    def events_of(self, stmt: ast.stmt, cfg: CFG) -> list[Event]:
        # inner calls finish first: order by end position
        calls = sorted(self.model.calls_in_statement(stmt), key=lambda c: (c.end_lineno or 0, c.end_col_offset or 0))
        events: list[Event] = []
        for call in calls:
            events.extend(self._call_events(call, cfg))
        events.extend(self._assign_events(stmt))
        return events

    def _assign_events(self, stmt: ast.stmt) -> list[Event]:
        out = []
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            value = stmt.value
            for t in targets:
                # `p.grad = None` clears gradients like zero_grad(set_to_none=True)
                if (
                    isinstance(t, ast.Attribute)
                    and t.attr == "grad"
                    and isinstance(value, ast.Constant)
                    and value.value is None
                ):
                    out.append(Event(Ev.ZERO_GRAD, stmt, dotted(t.value)))
            if value is not None and isinstance(value, ast.Call):
                k = self.model.kind(value)
                if k is not None and k.kind == Kind.MODULE:
                    out.append(Event(Ev.NEW_MODEL, stmt))
            names = [dotted(t) for t in targets if isinstance(t, (ast.Name, ast.Attribute))]
            mode = _mode_chain(value) if value is not None else None
            if mode is not None:
                # `net = Net().eval()`, `net = g.to(dev).eval()`: the bound module is in that mode
                call, attr = mode
                ev = self._mode_of(call, attr)
                out.extend(Event(ev, stmt, n) for n in names if n)
            elif isinstance(value, (ast.Name, ast.Attribute)):
                # any plain rebinding: asking whether it is a model costs more than the event,
                # which only matters when `source`'s mode is switched in this function
                source = dotted(value)
                out.extend(Event(Ev.ALIAS, stmt, n, origin=value) for n in names if n and n != source)
            elif isinstance(value, ast.Call) and last_name(value.func) == "from_pretrained":
                # transformers' from_pretrained returns the model in eval mode (documented);
                # other libraries' loaders may or may not: unknown
                owner = self.model.qualname(value.func.value) if isinstance(value.func, ast.Attribute) else None
                ev = Ev.EVAL if (owner or "").startswith("transformers.") else Ev.MODE_UNKNOWN
                out.extend(Event(ev, stmt, n) for n in names if n)
        return out

    def _call_events(self, call: ast.Call, cfg: CFG) -> list[Event]:
        m = self.model
        func = call.func
        q = m.call_qualname(call) or ""
        attr = func.attr if isinstance(func, ast.Attribute) else None
        recv = func.value if isinstance(func, ast.Attribute) else None
        recv_text = receiver_text(recv) if recv is not None else None

        if q.endswith(("clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "clip_grads_with_norm_")) or attr in (
            "clip_grad_norm_",
            "clip_grad_value_",
            "clip_gradients",
        ):
            return [Event(Ev.CLIP, call)]
        if q.startswith("torch.distributed"):
            return []  # distributed autograd keeps gradients per context: not our model of a step
        if attr == "backward" or q == "torch.autograd.backward" or attr == "manual_backward":
            return [Event(Ev.BACKWARD, call, recv_text)]
        if attr == "zero_grad":
            return [Event(Ev.ZERO_GRAD, call, recv_text)]
        if attr in ("zero_", "detach_") and isinstance(recv, ast.Attribute) and recv.attr == "grad":
            return [Event(Ev.ZERO_GRAD, call, dotted(recv.value))]
        if attr == "unscale_" and recv is not None:
            return [Event(Ev.UNSCALE, call, recv_text)]
        if attr == "step" and recv is not None:
            kind = self._kind_or_hint(recv)
            if kind == Kind.SCALER:
                opt = dotted(call.args[0]) if call.args else None
                return [Event(Ev.STEP, call, opt)]
            if kind == Kind.OPTIMIZER:
                return [Event(Ev.STEP, call, recv_text)]
            if kind == Kind.SCHEDULER:
                return [Event(Ev.SCHED_STEP, call, recv_text)]
            return []
        if attr in ("train", "eval") and recv is not None:
            ref = m.resolve_function(call)
            if ref is None or (
                ref.cls is not None
                and m.is_module_class(ref.cls)
                and ref.node.name in ("train", "eval")
                and _is_mode_override(ref.node)
            ):
                if self._kind_or_hint(recv) in (Kind.MODULE, None) and not _looks_like_non_module(recv):
                    return [Event(self._mode_of(call, attr), call, recv_text)]
                return []
        if q and q.split(".")[0] in STEPLESS_LIBRARIES:
            return []  # a library function: neither a user helper, nor a forward, nor a mode switch
        if attr == "forward" and recv is not None and not _is_self_or_super(recv) and self._is_model(recv):
            # `model.forward(x)` runs the model like `model(x)` (minus hooks: TL403's business)
            return [Event(Ev.FORWARD, call, recv_text, no_grad=self.in_no_grad(call))]
        ref = m.resolve_function(call)
        if ref is not None:
            events = self._callee_events(call, ref)
            if ref.node not in self._exhausted:
                return events
            # a function left out (over its budget) is as opaque as one we cannot resolve
        out = []
        if isinstance(func, (ast.Name, ast.Attribute)) and self._is_model(func):
            out.append(Event(Ev.FORWARD, call, dotted(func), no_grad=self.in_no_grad(call)))
        # An opaque call that receives a model may switch its mode: remember it so mode
        # questions stay silent rather than guess.
        if not _is_pure_builtin(q, func):
            for arg in [*call.args, *(k.value for k in call.keywords)]:
                if isinstance(arg, (ast.Name, ast.Attribute)) and self._is_model(arg):
                    out.append(Event(Ev.MODE_UNKNOWN, call, dotted(arg)))
        return out

    def _mode_of(self, call: ast.Call, attr: str) -> Ev:
        if attr == "eval":
            return Ev.EVAL
        mode = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "mode"), None)
        if mode is None:
            return Ev.TRAIN
        if isinstance(mode, ast.Constant) and isinstance(mode.value, bool):
            return Ev.TRAIN if mode.value else Ev.EVAL
        return Ev.MODE_UNKNOWN

    def _kind_or_hint(self, expr: ast.AST) -> Kind | None:
        k = self.model.kind(expr)
        if k is not None:
            return k.kind
        return name_hint(last_name(expr))

    def _is_model(self, expr: ast.AST) -> bool:
        if isinstance(expr, ast.Attribute) and expr.attr in MODULE_METHOD_NAMES:
            return False  # `net.add_module(...)` names a method, not a submodule
        k = self.model.kind(expr)
        if k is not None:
            return k.kind == Kind.MODULE and not (k.qualname or "").endswith("Loss")
        return name_hint(last_name(expr)) == Kind.MODULE

    # -- summaries of called functions -------------------------------------------
    def _callee_events(self, call: ast.Call, ref: FunctionRef) -> list[Event]:
        summary = self.summary(ref)
        if summary is None:
            return []
        mapping = _argument_mapping(call, ref)
        out = []
        for e in summary.events:
            target = _substitute(e.target, mapping) if e.target else None
            if e.target and target is None:
                continue  # the effect is on something the caller cannot name
            no_grad = e.no_grad or self.in_no_grad(call)
            out.append(Event(e.kind, call, target, ref, e.origin or e.call, e.origin_model or ref.model, no_grad))
        return out

    def summary(self, ref: FunctionRef) -> Summary | None:
        key = ref.key
        if key in self._summaries:
            return self._summaries[key]
        if key in self._in_progress or self.depth >= _MAX_SUMMARY_DEPTH:
            return None  # recursion: unknown
        ws = self.model.workspace
        if ws is None or self.depth or ref.model is self.model:
            return self._summarise(ref)
        # A function of another file, asked for by this file's own code: its summary outlives
        # the analysis while the files it read stay the same (they are recorded as it is made).
        kept = ws.kept_summary(ref)
        if kept is not None:
            self._summaries[key] = kept
            return kept
        ws.start_recording()
        try:
            s = self._summarise(ref)
        finally:
            read = ws.stop_recording()
        if s is not None:
            ws.keep_summary(ref, s, read)
        return s

    def _summarise(self, ref: FunctionRef) -> Summary | None:
        key = ref.key
        self._in_progress.add(key)
        self.depth += 1
        try:
            flow = self if ref.model is self.model else self.session.flow_for(ref.model, self.depth)
            cfg = flow.cfg(ref.node)
            if ref.node in self._exhausted:
                self._summaries[key] = None  # unknown, like recursion
                return None
            events: list[Event] = []
            seen: set[tuple] = set()
            for node in cfg.nodes:
                for e in node.events:
                    if e.kind in (Ev.TRAIN, Ev.EVAL, Ev.MODE_UNKNOWN, Ev.NEW_MODEL, Ev.ALIAS):
                        continue  # mode effects are summarised below, by exit state
                    k = (e.kind, e.target, e.no_grad)
                    if k not in seen:
                        seen.add(k)
                        events.append(
                            Event(
                                e.kind,
                                e.call,
                                e.target,
                                e.via,
                                e.origin or e.call,
                                e.origin_model or ref.model,
                                e.no_grad,
                            )
                        )
            events[:0] = mode_entry_events(cfg, ref.model)
            events.extend(mode_exit_events(cfg, ref.model))
            s = Summary(events)
            self._summaries[key] = s
            return s
        finally:
            self._in_progress.discard(key)
            self.depth -= 1

    # -- callers in this file -------------------------------------------------------
    def call_sites(self, fn: ast.AST) -> list[tuple[FlowModel, CFG, Node | None, ast.Call]]:
        """Calls of `fn` in this file and in the workspace files that import it (TL202 and
        TL203 both ask, and the importer scan reads files: computed once per function)."""
        if fn not in self._call_sites:
            self._call_sites[fn] = self._find_call_sites(fn)
        return self._call_sites[fn]

    def _find_call_sites(self, fn: ast.AST) -> list[tuple[FlowModel, CFG, Node | None, ast.Call]]:
        out: list[tuple[FlowModel, CFG, Node | None, ast.Call]] = []
        flows = [self]
        ws = self.model.workspace
        if ws is not None and isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            flows += [self.session.flow_for(m, self.depth) for m in ws.importer_models(self.model, fn.name)]
        for flow in flows:
            for call in flow.model.calls_named(getattr(fn, "name", None)):
                ref = flow.model.resolve_function(call)
                if ref is None or ref.node is not fn:
                    continue
                scope = flow.model.scope_of(call)
                cfg = flow.cfg(scope)
                if scope in self._exhausted:
                    out.append((flow, cfg, None, call))  # a caller left out: no node to ask about
                    continue
                stmt = next((a for a in [call, *flow.model.ancestors(call)] if a in cfg.by_stmt), None)
                if stmt is not None:
                    out.append((flow, cfg, cfg.by_stmt[stmt], call))
        return out

    def mode_on_entry(self, cfg: CFG, node: Node, target: str, depth: int = 0) -> frozenset[str]:
        """Modes `target` may be in when `node` runs, following "entry" into the callers
        (a function nobody calls starts in the default, train mode)."""
        states = mode_states(cfg, target).get(node.id, frozenset({"entry"}))
        if "entry" not in states:
            return states
        rest = states - {"entry"}
        fn = cfg.scope
        sites = self.call_sites(fn) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) else []
        if not sites:
            return rest | {"train"}
        if depth >= 3:
            return rest | {"unknown"}
        for flow, ccfg, cnode, call in sites:
            ref = flow.model.resolve_function(call)
            if ref is None or cnode is None:
                return rest | {"unknown"}
            caller_target = _substitute(target, _argument_mapping(call, ref))
            if caller_target is None:
                fresh = _fresh_module_mode(flow.model, _argument_expr(call, ref, target))
                if fresh is None:
                    return rest | {"unknown"}
                rest |= {fresh}  # `evaluate(Net(), loader)`: a module built for the call
                continue
            rest |= flow.mode_on_entry(ccfg, cnode, caller_target, depth + 1)
        return rest

    def grad_disabled_on_entry(self, cfg: CFG, depth: int = 0) -> bool:
        """Does every caller call this function under no_grad?"""
        fn = cfg.scope
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or depth >= 3:
            return False
        sites = self.call_sites(fn)
        return bool(sites) and all(
            flow.in_no_grad(call) or flow.grad_disabled_on_entry(ccfg, depth + 1) for flow, ccfg, _, call in sites
        )

    # -- evaluation loops ---------------------------------------------------------
    def evaluation_loops(self) -> list[tuple[Loop, Node, Event]]:
        """Loops that run a model forward and never train it, whatever they iterate:
        (loop, node of the model's first forward, its event), one entry per model the loop
        runs (an encoder and a decoder, a generator and a discriminator: each is judged on
        its own). A forward belongs to the outermost such loop around it that is not a
        counter (`for x, y in test_loader: for c in conditions: G(x, c)` is one evaluation,
        of the loader; `for epoch in range(3): for x in test_loader:` too), else to the
        innermost counter loop (`for di in range(max_length)`)."""
        if self._evaluation_loops is None:
            self._evaluation_loops = self._find_evaluation_loops()
        return self._evaluation_loops

    def _find_evaluation_loops(self) -> list[tuple[Loop, Node, Event]]:
        out: list[tuple[Loop, Node, Event]] = []
        # What a loop iterates says little (a generator of batches, `loaders['test']`, a
        # parameter named `ds`): what it does with a model says more. Decide "a loop calls
        # something that may be a model" on the AST first: CFGs are built only for those scopes.
        scopes = self._scopes_with_model_calls_in_loops()
        for scope in self.scopes():
            if scope not in scopes:
                continue
            cfg = self.cfg(scope)
            chosen: dict[ast.AST, list[tuple[Node, Event]]] = {}
            for loop in cfg.loops.values():
                forwards = self._evaluation_forwards(loop)
                if forwards:
                    chosen[loop.node] = forwards
            calls = {stmt: {id(e.call) for _, e in forwards} for stmt, forwards in chosen.items()}
            for stmt, forwards in chosen.items():
                firsts: dict[str | None, tuple[Node, Event]] = {}
                for n, e in forwards:
                    around = [
                        l
                        for l in n.loops
                        if isinstance(l, (ast.For, ast.AsyncFor)) and l in chosen and id(e.call) in calls[l]
                    ]
                    owner = next((l for l in around if not iterates_counter(l.iter)), around[-1])
                    if owner is stmt:
                        firsts.setdefault(e.target, (n, e))
                out.extend((cfg.loops[stmt], n, e) for n, e in firsts.values())
        return sorted(out, key=lambda x: (x[0].node.lineno, x[1].statement.lineno, x[1].statement.col_offset))

    def _scopes_with_model_calls_in_loops(self) -> set[ast.AST]:
        m = self.model
        scopes: set[ast.AST] = set()
        for call in m.calls():
            func = call.func
            if not isinstance(func, (ast.Name, ast.Attribute)):
                continue
            scope = m.scope_of(call)
            if scope in scopes:
                continue
            loop = next(
                (a for a in m.ancestors(call) if isinstance(a, (ast.For, ast.AsyncFor, *_DEFS, ast.Lambda))), None
            )
            if not isinstance(loop, (ast.For, ast.AsyncFor)):
                continue
            recv = func.value if isinstance(func, ast.Attribute) and func.attr == "forward" else func
            if self._is_model(recv):
                scopes.add(scope)
        return scopes

    def _evaluation_forwards(self, loop: Loop) -> list[tuple[Node, Event]]:
        """The direct forwards of `loop` when it is an evaluation loop, else []."""
        stmt = loop.node
        if not isinstance(stmt, (ast.For, ast.AsyncFor)):
            return []
        if loop.has(Ev.BACKWARD) or loop.has(Ev.STEP) or loop.has(Ev.ZERO_GRAD):
            return []
        forwards = [
            (n, e)
            for n, e in loop.events(Ev.FORWARD, direct_only=True)
            if not bound_by_loops(e, n, stmt) and not self._stateless_layer(e)
        ]
        if not forwards or runs_once(stmt):
            return []  # `for x, y in loader: print(model(x).shape); break` looks at one batch
        cfg = loop.cfg
        if not self.iterates_loader(stmt.iter):
            # a loop in a module's own methods is part of its forward (an RNN unrolled over
            # time steps, blocks applied in turn): its mode and gradients are the caller's
            cls = self.model.enclosing_class(stmt)
            if cls is not None and self.model.is_module_class(cls):
                return []
            if iterates_counter(stmt.iter):
                # `for di in range(max_length)`: decoding, but also teacher forcing, unrolled
                # training, GAN critic steps. Only in a function that never trains at all, and
                # whose callers do not train in the statement that calls it.
                if any(n.has(Ev.BACKWARD) or n.has(Ev.STEP) for n in cfg.nodes):
                    return []
                if self._called_in_training_statement(cfg):
                    return []
            # a model built right here, never trained nor loaded: random weights run to show
            # how the network works (`decoder_test = AttnDecoderRNN(10, 10, 2)` in `test()`)
            forwards = [(n, e) for n, e in forwards if not self._smoke_tested(cfg, e)]
            if not forwards:
                return []
        if self._outputs_trained(loop, forwards):
            return []
        return forwards

    def _stateless_layer(self, e: Event) -> bool:
        """`m = nn.Sigmoid(); m(x)` applies a function, it does not run a model."""
        func = e.call.func if isinstance(e.call, ast.Call) else None
        if isinstance(func, ast.Attribute) and func.attr == "forward":
            func = func.value
        k = self.model.kind(func) if func is not None else None
        return (
            k is not None
            and (k.qualname or "").rsplit(".", 1)[-1] in STATELESS_LAYERS
            and (k.qualname or "").startswith("torch.nn.")
        )

    def _smoke_tested(self, cfg: CFG, e: Event) -> bool:
        """The model is built by this scope (every binding of its name here is a call), which
        neither trains nor loads weights: its outputs come from random weights."""
        if not e.target or "." in e.target:
            return False
        values = self.model.assigned_values(cfg.scope, e.target)
        if not values or not all(isinstance(v, ast.Call) for v in values):
            return False
        if any(isinstance(n, ast.Name) and n.id == e.target for v in values for n in ast.walk(v)):
            return False  # `model = DataParallel(model)`, `model = model.eval()`: handed in
        if any(n.has(Ev.BACKWARD) or n.has(Ev.STEP) for n in cfg.nodes):
            return False
        return not LOADS.search(self._scope_text(cfg.scope))

    def _called_in_training_statement(self, cfg: CFG) -> bool:
        fn = cfg.scope
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return False
        return any(
            cnode is None or cnode.has(Ev.BACKWARD) or cnode.has(Ev.STEP) for _, _, cnode, _ in self.call_sites(fn)
        )

    def _outputs_trained(self, loop: Loop, forwards: list[tuple[Node, Event]]) -> bool:
        """Does a backward pass use what the loop computed with the model? (A teacher-forcing
        loop sums a loss that is backpropagated after it; a loop over micro-batches collects
        outputs for one loss.) Followed after the loop in this function, and into the callers
        when the function returns it. Unsure counts as trained."""
        cfg = loop.cfg
        sources = {e.call for _, e in loop.events(Ev.FORWARD)}
        region = loop.body | {loop.header}
        # what the body derives from the forwards (any order: the body repeats)
        tainted: set[str] = set()
        while True:
            before = len(tainted)
            if not spend_taint(cfg, len(loop.body)):
                return True  # out of taint work for this graph: unsure
            for i in sorted(loop.body):
                stmt = cfg.nodes[i].statement
                if is_derived(stmt_exprs(stmt), tainted, sources):
                    tainted |= written(stmt)
                tainted |= mutated(stmt, tainted, sources)
            if len(tainted) == before:
                break
        body_uses = any(uses_values(cfg.nodes[i].statement, tainted, sources) for i in loop.body)
        seeds: dict[int, frozenset[str]] = {}
        for i in region:
            for s in cfg.nodes[i].succ:
                if s not in region:
                    seeds[s] = seeds.get(s, frozenset()) | frozenset(tainted)
        # `return outputs` inside the loop body (after the loop it is found by the search)
        returns = any(
            returns_value(cfg.nodes[i].statement) and is_derived(stmt_exprs(cfg.nodes[i].statement), tainted, sources)
            for i in loop.body
        )
        trained, returned = self._taint_trains(cfg, seeds, sources)
        if trained:
            return True
        iterated = cast(ast.For | ast.AsyncFor, loop.node).iter  # an evaluation loop is a `for`
        if not (body_uses or returns or returned) and not self.iterates_loader(iterated):
            # the outputs are only looked at for their shapes (`print(out.size())`) or fed
            # back to the model: a demonstration of the network, not an evaluation
            return True
        if returns or returned:
            return self._callers_train_on_result(cfg, 0)
        return False

    def _taint_trains(self, cfg: CFG, seeds: dict[int, frozenset[str]], sources: set[ast.AST]) -> tuple[bool, bool]:
        """Forward taint from `seeds` (node -> names holding model outputs before it runs),
        with strong updates (`loss = criterion(...)` in the next training loop is a new loss):
        (a backward reads them, a return or yield hands them out)."""
        nodes = cfg.nodes
        before: dict[int, frozenset[str]] = {}
        queue: deque[int] = deque()
        for n, s in seeds.items():
            before[n] = s
            queue.append(n)
        module_level = isinstance(cfg.scope, ast.Module)
        returned = False
        while queue:
            n = queue.popleft()
            if not spend_taint(cfg, 1):
                return True, returned  # unsure: as if trained
            node = nodes[n]
            state = before[n]
            stmt = node.stmt
            if stmt is None:
                continue
            derived = is_derived(stmt_exprs(stmt), state, sources)
            if derived and (node.has(Ev.BACKWARD) or node.has(Ev.STEP)):
                return True, returned
            if state and any(
                e.kind == Ev.BACKWARD and e.via is not None and callee_reads(e.via.node, state, module_level)
                for e in node.events
            ):
                return True, returned  # a helper that trains reads them (a global, an attribute)
            if derived and returns_value(stmt):
                returned = True
            after = transfer(stmt, state, derived, sources)
            if not after:
                continue  # nothing held any more: only the seeds' own sources could taint again
            for succ in node.succ:
                old = before.get(succ)
                new = after if old is None else old | after
                if old is None or new != old:
                    before[succ] = new
                    queue.append(succ)
        return False, returned

    def _callers_train_on_result(self, cfg: CFG, depth: int) -> bool:
        """The function returns model outputs computed without training: does a caller
        backpropagate through them? No known caller: judged on its own body."""
        fn = cfg.scope
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return False
        if depth >= 3 or self._used_as_value(fn):
            return True  # `train_and_predict(gru, ...)`: called where we cannot follow
        for flow, ccfg, cnode, call in self.call_sites(fn):
            if cnode is None:
                return True  # a caller left out: cannot tell
            trained, returned = flow._taint_trains(ccfg, {cnode.id: frozenset()}, {call})
            if trained or (returned and flow._callers_train_on_result(ccfg, depth + 1)):
                return True
        return False

    def _used_as_value(self, fn: ast.AST) -> bool:
        """The function is named other than in a call of it: passed, stored, decorated."""
        name = getattr(fn, "name", None)
        for n in self.model.nodes_of(ast.Name) + self.model.nodes_of(ast.Attribute):
            if not isinstance(n, (ast.Name, ast.Attribute)):
                continue  # (never: the two lists hold nothing else)
            if (n.id if isinstance(n, ast.Name) else n.attr) != name or not isinstance(n.ctx, ast.Load):
                continue
            parent = self.model.parent(n)
            if not (isinstance(parent, ast.Call) and parent.func is n):
                return True
        return False

    def iterates_loader(self, expr: ast.AST) -> bool:
        """A DataLoader, or named like one (how evaluation loops were first recognised; such
        loops still count where other iterables need more evidence)."""
        while (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, (ast.Name, ast.Attribute))
            and last_name(expr.func) in LOADER_WRAPPERS
            and expr.args
        ):
            expr = expr.args[0]
        k = self.model.kind(expr)
        if k is not None:
            return k.kind == Kind.DATALOADER
        return name_hint(last_name(expr)) == Kind.DATALOADER


_WORD = re.compile(r"\w+")


class _SubstringFinder:
    """`any(w in text for w in words)` for many words, in time linear in the text: each
    distinct run of word characters is cut into the pieces as long as some word, and the
    pieces are looked up (answers per run are kept: runs repeat from scope to scope)."""

    def __init__(self, words: tuple[str, ...]):
        self.idents = {w for w in words if _WORD.fullmatch(w)}
        self.others = [w for w in words if w not in self.idents]
        self.lengths = sorted({len(w) for w in self.idents})
        self.runs: dict[str, bool] = {}

    def found(self, text: str) -> bool:
        if any(w in text for w in self.others):
            return True
        runs = self.runs
        for run in set(_WORD.findall(text)):
            hit = runs.get(run)
            if hit is None:
                hit = runs[run] = self._in_run(run)
            if hit:
                return True
        return False

    def _in_run(self, run: str) -> bool:
        idents = self.idents
        n = len(run)
        for size in self.lengths:
            if size > n:
                break
            for i in range(n - size + 1):
                if run[i : i + size] in idents:
                    return True
        return False


def _argument_mapping(call: ast.Call, ref: FunctionRef) -> dict[str, str | None]:
    """Callee parameter name -> caller expression text."""
    fn = ref.node
    params = [a.arg for a in [*fn.args.posonlyargs, *fn.args.args]]
    mapping: dict[str, str | None] = {}
    args = list(call.args)
    if ref.cls is not None and params and not _is_static(fn):
        recv = call.func.value if isinstance(call.func, ast.Attribute) else None
        mapping[params[0]] = dotted(recv) if recv is not None else None
        params = params[1:]
    for p, a in zip(params, args):
        mapping[p] = None if isinstance(a, ast.Starred) else dotted(a)
    for k in call.keywords:
        if k.arg:
            mapping[k.arg] = dotted(k.value)
    for p in [*params[len(args) :], *(a.arg for a in fn.args.kwonlyargs)]:
        mapping.setdefault(p, None)
    return mapping


def _argument_expr(call: ast.Call, ref: FunctionRef, target: str) -> ast.AST | None:
    """The expression a call passes for the parameter `target` names (`model` of `model.enc`
    only when `target` is the parameter itself)."""
    return argument_for(call, ref.node, target, ref.cls is not None and not _is_static(ref.node))


def _fresh_module_mode(model: SemanticModel, expr: ast.AST | None) -> str | None:
    """ "train" for a module constructed in the argument itself (modules start in train mode),
    "eval"/"train" for `Net().eval()` / `.train()`; None for anything else."""
    if not isinstance(expr, ast.Call):
        return None
    chain = _mode_chain(expr)
    if chain is not None:
        return "eval" if chain[1] == "eval" else None
    base: ast.AST = expr
    while (
        isinstance(base, ast.Call)
        and isinstance(base.func, ast.Attribute)
        and base.func.attr in MODULE_PASS_THROUGH_METHODS
    ):
        base = base.func.value
    k = model.kind(base)
    if k is not None and k.kind == Kind.MODULE and k.node is base:  # built right here, not by a factory
        return "train"
    return None


def _mode_chain(value: ast.AST) -> tuple[ast.Call, str] | None:
    """(the call, "train"|"eval") when `value` ends in `.eval()` / `.train(...)`, possibly followed
    by pass-through calls (`.eval().to(dev)`)."""
    node = value
    while (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in MODULE_PASS_THROUGH_METHODS
    ):
        if node.func.attr in ("train", "eval"):
            return node, node.func.attr
        node = node.func.value
    return None


def _is_self_or_super(expr: ast.AST) -> bool:
    return (isinstance(expr, ast.Name) and expr.id == "self") or (
        isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "super"
    )


def receiver_text(expr: ast.AST) -> str | None:
    """`model` for `model`, `model.to(device)`, `model.eval().cpu()` (these return the module)."""
    while (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr in MODULE_PASS_THROUGH_METHODS
    ):
        expr = expr.func.value
    return dotted(expr)


def _substitute(target: str, mapping: dict[str, str | None]) -> str | None:
    head, dot, rest = target.partition(".")
    if head in mapping:
        new = mapping[head]
        return None if new is None else new + dot + rest
    return target  # a global: same name in the caller


def _is_static(fn: FunctionNode) -> bool:
    return any(isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod") for d in fn.decorator_list)


def _is_mode_override(fn: FunctionNode) -> bool:
    """A Module subclass overriding train()/eval() still switches the mode (it calls super)."""
    return any(isinstance(n, ast.Attribute) and n.attr in ("train", "eval") for n in ast.walk(fn))


def _looks_like_non_module(recv: ast.AST) -> bool:
    return isinstance(recv, ast.Constant)


_PURE_BUILTINS = {
    "print",
    "len",
    "isinstance",
    "type",
    "id",
    "repr",
    "str",
    "hasattr",
    "getattr",
    "sum",
    "list",
    "tuple",
    "count_parameters",
}


def _is_pure_builtin(q: str, func: ast.AST) -> bool:
    if isinstance(func, ast.Name) and func.id in _PURE_BUILTINS:
        return True
    if isinstance(func, ast.Attribute) and func.attr in (
        "append",
        "info",
        "debug",
        "warning",
        "log",
        "format",
        "write",
        "add_graph",
        "watch",
        "save",
        "state_dict",
        "parameters",
        "named_parameters",
        "numel",
        "to",
        "cuda",
        "cpu",
        "load_state_dict",
    ):
        return True
    return q.startswith(
        ("torch.save", "torch.nn.utils", "torch.optim", "logging.", "copy.", "torchinfo", "torchsummary")
    )

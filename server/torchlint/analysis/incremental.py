"""Re-analysing only what an edit can change (the editor path).

The file's top-level statements are linked when one defines a name the other mentions
(a call, a class, a module-level variable); module-level code is one block, imports are
the environment of every statement. Findings anchored in a statement depend on nothing
outside its connected group (plus imports and other files): so after an edit only the
groups holding a re-parsed or removed statement are analysed again, as a module made of
those statements and the imports, and every other statement keeps its findings, moved
to its new lines. Anything outside that model (imports edited, other files changed,
syntax errors, most of the file affected) takes the full analysis.

`tests/analysis/test_incremental_checker.py` holds this to "same findings as a fresh
analysis" along random edit chains.
"""

from __future__ import annotations

import ast
import bisect
from dataclasses import dataclass, field, replace

from .findings import Finding, Position, Span
from .resolve import statement_index
from .source import SourceFile, edited_lines, statement_start

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_MOSTLY = 0.6  # above this share of the file affected, the full analysis is as cheap


@dataclass(frozen=True)
class StatementNames:
    defines: frozenset[str]  # module-level names it binds
    mentions: frozenset[str]  # every name it uses or binds
    block: bool  # module-level code (not a def or class): runs in order with the others
    imports: bool  # binds imported names: the environment of every statement


def statement_names(source: SourceFile, stmt: ast.stmt) -> StatementNames:
    """Computed once per statement node (`reparse` keeps the nodes of untouched statements)."""
    facts = source.facts_of(stmt)
    if facts.names is not None:
        return facts.names
    mentions: set[str] = set()
    defines: set[str] = set()
    imports = False
    is_def = isinstance(stmt, _DEFS)
    levels, _ = statement_index(source, stmt)  # the semantic model walks the statement anyway
    for node in (n for level in levels for n in level):
        if isinstance(node, ast.Name):
            mentions.add(node.id)
            if not is_def and not isinstance(node.ctx, ast.Load):
                defines.add(node.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            defines.update(node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if not is_def:
                imports = True
            for alias in node.names:
                # the semantic model reads imports anywhere in the file as the file's own
                defines.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, _DEFS):
            mentions.add(node.name)
            if node is stmt or not is_def:
                defines.add(node.name)
    mentions |= defines
    info = facts.names = StatementNames(frozenset(defines), frozenset(mentions), not is_def, imports)
    return info


@dataclass
class Snapshot:
    """What the last analysis of a file left for the next one."""

    source: SourceFile
    stmts: list[ast.stmt]
    starts: list[int]  # 0-based first line of each statement, as it was then
    findings: list[list[Finding]]  # per statement
    loops: list[list[Span]]  # training loops, per statement
    codes: frozenset[str] | None
    deps: dict[str, object] = field(default_factory=dict)  # other files read -> their model then
    files: object = None  # the workspace's file list then (importers are found through it)


@dataclass
class Plan:
    """An analysis of part of the file: `subset` is the module to analyse, `affected`
    the statements whose findings it replaces."""

    subset: ast.Module
    affected: set[int]  # indices into the new body
    kept: dict[int, tuple[list[Finding], list[Span]]]  # the others' findings, moved


def anchor(starts: list[int], line: int) -> int | None:
    """Index of the statement whose lines hold `line` (starts sorted), or None."""
    i = bisect.bisect_right(starts, line) - 1
    return i if i >= 0 else None


def snapshot(source: SourceFile, findings: list[Finding], loops: list[Span], codes, deps, files) -> Snapshot | None:
    """Record a full analysis; None when something in it cannot be assigned to a statement."""
    stmts = list(source.tree.body)
    if _unusable(source) or not stmts:
        return None
    starts = [statement_start(s) for s in stmts]
    per_stmt: list[list[Finding]] = [[] for _ in stmts]
    per_loop: list[list[Span]] = [[] for _ in stmts]
    for f in findings:
        i = anchor(starts, f.span.start.line)
        if i is None or f.path != source.path:
            return None
        per_stmt[i].append(f)
    for span in loops:
        i = anchor(starts, span.start.line)
        if i is None:
            return None
        per_loop[i].append(span)
    return Snapshot(source, stmts, starts, per_stmt, per_loop, codes, deps, files)


def plan(prev: Snapshot, source: SourceFile, codes) -> Plan | None:
    """Which statements to analyse again after `prev` became `source`; None: all of them."""
    if _unusable(source) or codes != prev.codes or not source.tree.body:
        return None
    body = source.tree.body
    old_index = {id(s): i for i, s in enumerate(prev.stmts)}
    kept_from = [old_index.get(id(s)) for s in body]  # new index -> old index (None: changed)
    line_map = _line_map(prev.source.lines, source.lines)
    _match_unchanged_text(prev, source, kept_from, line_map)
    reused = {i for i in kept_from if i is not None}
    removed = [prev.stmts[i] for i in range(len(prev.stmts)) if i not in reused]
    changed = [i for i, o in enumerate(kept_from) if o is None]
    names = [statement_names(source, s) for s in body]
    gone = [statement_names(prev.source, s) for s in removed]
    if any(n.imports for n in gone) or any(names[i].imports for i in changed):
        return None  # the environment of every statement changed
    seeds = set(changed)
    gone_defines = frozenset().union(*(n.defines for n in gone)) if gone else frozenset()
    # what the old versions used: a function whose only caller was edited away loses what the
    # call told about its parameters
    gone_mentions = frozenset().union(*(n.mentions for n in gone)) if gone else frozenset()
    block_touched = any(n.block for n in gone) or any(names[i].block for i in changed)
    kept: dict[int, tuple[list[Finding], list[Span]]] = {}
    for i, o in enumerate(kept_from):
        if o is None:
            continue
        n = names[i]
        if (
            (gone_defines & n.mentions)
            or (gone_mentions & n.defines and not n.imports)
            or (block_touched and n.block and not n.imports)
        ):
            seeds.add(i)
            continue
        moved = _move(prev.findings[o], prev.loops[o], line_map)
        if moved is None:
            seeds.add(i)
        else:
            kept[i] = moved
    affected = _closure(names, seeds)
    lines_affected = sum((body[i].end_lineno or 0) - statement_start(body[i]) for i in affected)
    if lines_affected > _MOSTLY * max(len(source.lines), 1):
        return None
    for i in affected:
        kept.pop(i, None)
    subset = [s for i, s in enumerate(body) if i in affected or names[i].imports]
    return Plan(ast.Module(body=subset, type_ignores=[]), affected, kept)


def _match_unchanged_text(prev: Snapshot, source: SourceFile, kept_from: list[int | None], line_map) -> None:
    """`reparse` takes the statements next to an edit along: those whose text and place did
    not change are the old statements still (their findings stand)."""
    reused = {o for o in kept_from if o is not None}
    by_text: dict[str, list[int]] = {}
    for o, stmt in enumerate(prev.stmts):
        if o not in reused:
            by_text.setdefault(_text(prev.source, stmt, prev.starts[o]), []).append(o)
    if not by_text:
        return
    for i, stmt in enumerate(source.tree.body):
        if kept_from[i] is not None:
            continue
        start = statement_start(stmt)
        for o in by_text.get(_text(source, stmt, start), ()):
            if line_map(prev.starts[o]) == start:
                kept_from[i] = o
                break


def _text(source: SourceFile, stmt: ast.stmt, start: int) -> str:
    return "\n".join(source.lines[start : stmt.end_lineno or start + 1])


def merge(plan: Plan, source: SourceFile, findings: list[Finding], loops: list[Span]):
    """(findings, loops) of the whole file: the partial analysis' for the affected statements,
    the kept ones for the rest."""
    starts = [statement_start(s) for s in source.tree.body]
    out_f = [f for f in findings if anchor(starts, f.span.start.line) in plan.affected]
    out_l = [s for s in loops if anchor(starts, s.start.line) in plan.affected]
    for kept_f, kept_l in plan.kept.values():
        out_f.extend(kept_f)
        out_l.extend(kept_l)
    out_f.sort(key=Finding.sort_key)
    out_l.sort()
    return out_f, out_l


def _unusable(source: SourceFile) -> bool:
    """A syntax error recovered over the whole file: nothing in it lines up with the last one.
    (One recovered within the edited statements is fine: they count as changed.)"""
    return source.syntax_error is not None and source.recovered is None


def _closure(names: list[StatementNames], seeds: set[int]) -> set[int]:
    definers: dict[str, list[int]] = {}
    users: dict[str, list[int]] = {}
    blocks = []
    for i, n in enumerate(names):
        if n.imports:
            continue  # edits of imports never get here; their names link everything
        for name in n.defines:
            definers.setdefault(name, []).append(i)
        for name in n.mentions:
            users.setdefault(name, []).append(i)
        if n.block:
            blocks.append(i)
    seen = set(seeds)
    queue = list(seeds)
    while queue:
        i = queue.pop()
        n = names[i]
        linked: list[int] = []
        for name in n.defines:
            linked.extend(users.get(name, ()))
        for name in n.mentions:
            linked.extend(definers.get(name, ()))
        if n.block:
            linked.extend(blocks)
        for j in linked:
            if j not in seen and not names[j].imports:
                seen.add(j)
                queue.append(j)
    return seen


def _line_map(old: list[str], new: list[str]):
    """Old line -> new line for the lines an edit left alone (None for the ones it replaced)."""
    p, end = edited_lines(old, new)
    delta = len(new) - len(old)

    def move(line: int) -> int | None:
        if line < p:
            return line
        if line >= end:
            return line + delta
        return None

    move.delta = delta  # type: ignore[attr-defined]
    move.boundary = end  # type: ignore[attr-defined]
    return move


def _move(findings: list[Finding], loops: list[Span], line_map) -> tuple[list[Finding], list[Span]] | None:
    """The findings of an untouched statement at their new lines (related locations and fixes
    are positions, moved with them); None when one of them points into the edited lines."""
    delta = line_map.delta
    out = []
    for f in findings:
        span = _move_span(f.span, line_map)
        if span is None:
            return None
        related = []
        for r in f.related:
            if r.path != f.path:
                related.append(r)
                continue
            rs = _move_span(r.span, line_map)
            if rs is None:
                return None
            related.append(replace(r, span=rs))
        fix = f.fix
        if fix is not None:
            edits = []
            for e in fix.edits:
                es = _move_span(e.span, line_map)
                if es is None:
                    return None
                edits.append(replace(e, span=es))
            fix = replace(fix, edits=tuple(edits))
        out.append(replace(f, span=span, related=tuple(related), fix=fix) if delta or related != list(f.related) else f)
    moved_loops = []
    for s in loops:
        ms = _move_span(s, line_map)
        if ms is None:
            return None
        moved_loops.append(ms)
    return out, moved_loops


def _move_span(span: Span, line_map) -> Span | None:
    a, b = line_map(span.start.line), line_map(span.end.line)
    if a is None or b is None:
        return None
    if span.end.column == 0 and span.end.line == line_map.boundary:
        # ends where the edited lines end (a fix inserting after a statement the edit followed):
        # before or after the new lines, only a new analysis can say
        return None
    if a == span.start.line and b == span.end.line:
        return span
    return Span(Position(a, span.start.column), Position(b, span.end.column))

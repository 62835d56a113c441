"""Builders for the text edits rules attach to findings (kept in one place so every fix
respects the file's indentation and line endings the same way)."""

from __future__ import annotations

import ast
import re

from .findings import Edit, Position, Span
from .source import SourceFile

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def newline(source: SourceFile) -> str:
    """The file's line ending: its first line break (\\n, \\r\\n or a lone \\r, as `ast`
    counts them), "\\n" for a file of one line."""
    m = _LINE_BREAK.search(source.text)
    return m.group() if m else "\n"


def replace(source: SourceFile, node: ast.AST, text: str) -> Edit:
    return Edit(source.span(node), text)


def insert_at(pos: Position, text: str) -> Edit:
    return Edit(Span(pos, pos), text)


def stands_alone(source: SourceFile, stmt: ast.stmt) -> bool:
    """True when `stmt` starts its line and no other statement shares its lines."""
    start = source.start(stmt)
    if start.column != len(source.line_indent(start.line)):
        return False
    end_line = (stmt.end_lineno or stmt.lineno) - 1
    rest = source.lines[end_line][source.span(stmt).end.column :].strip()
    return rest == "" or rest.startswith("#")


def insert_line_before(source: SourceFile, stmt: ast.stmt, code: str) -> Edit | None:
    """`code` on its own line just above `stmt`, at `stmt`'s indentation."""
    if not stands_alone(source, stmt):
        return None
    line = stmt.lineno - 1
    indent = source.line_indent(line)
    return insert_at(Position(line, 0), f"{indent}{code}{newline(source)}")


def insert_line_after(source: SourceFile, stmt: ast.stmt, code: str) -> Edit | None:
    """`code` on its own line just below `stmt`, at `stmt`'s indentation."""
    if not stands_alone(source, stmt):
        return None
    end_line = (stmt.end_lineno or stmt.lineno) - 1
    indent = source.line_indent(stmt.lineno - 1)
    return insert_at(source.line_end(end_line), f"{newline(source)}{indent}{code}")


def delete_lines(source: SourceFile, stmt: ast.stmt) -> Edit | None:
    """Remove the whole lines `stmt` occupies (it must stand alone)."""
    if not stands_alone(source, stmt):
        return None
    first, last = stmt.lineno - 1, (stmt.end_lineno or stmt.lineno) - 1
    if last + 1 < len(source.lines):
        return Edit(Span(Position(first, 0), Position(last + 1, 0)), "")
    return Edit(Span(Position(first, 0), source.line_end(last)), "")


def move_before(source: SourceFile, stmt: ast.stmt, anchor: ast.stmt) -> tuple[Edit, ...] | None:
    """Move `stmt` (whole lines) to just above `anchor`, re-indented to `anchor`'s level."""
    delete = delete_lines(source, stmt)
    if delete is None or not stands_alone(source, anchor):
        return None
    old_indent = source.line_indent(stmt.lineno - 1)
    new_indent = source.line_indent(anchor.lineno - 1)
    lines = source.lines[stmt.lineno - 1 : (stmt.end_lineno or stmt.lineno)]
    moved = [new_indent + l[len(old_indent) :] if l.startswith(old_indent) else l for l in lines]
    nl = newline(source)
    return (delete, insert_at(Position(anchor.lineno - 1, 0), nl.join(moved) + nl))


def body_start(stmts: list[ast.stmt]) -> ast.stmt | None:
    """First statement of a body, skipping a docstring."""
    for s in stmts:
        if (
            isinstance(s, ast.Expr)
            and isinstance(s.value, ast.Constant)
            and isinstance(s.value.value, str)
            and s is stmts[0]
        ):
            continue
        return s
    return None


def add_keyword(source: SourceFile, call: ast.Call, text: str) -> Edit | None:
    """Append the argument `text` (e.g. `weights_only=True`) to `call`'s argument list, after
    its last argument (a trailing comma stays valid) or inside empty parentheses."""
    args: list[ast.expr | ast.keyword] = [*call.args, *call.keywords]
    if (
        len(call.args) == 1
        and not call.keywords
        and isinstance(call.args[0], ast.GeneratorExp)
        and source.span(call.args[0]).end == source.span(call).end
    ):
        return None  # `f(x for x in xs)`: the generator shares the call's parentheses
    if args:
        last = max(args, key=lambda a: (a.end_lineno or a.lineno, a.end_col_offset or 0))
        return insert_at(source.span(last).end, f", {text}")
    end = source.span(call).end
    if end.column == 0 or source.lines[end.line][end.column - 1] != ")":
        return None
    return insert_at(Position(end.line, end.column - 1), text)


def move_after(source: SourceFile, stmt: ast.stmt, anchor: ast.stmt) -> tuple[Edit, ...] | None:
    """Move `stmt` (whole lines) to just below `anchor` (all of it: a loop's whole body),
    re-indented to `anchor`'s level."""
    delete = delete_lines(source, stmt)
    if delete is None or not stands_alone(source, anchor):
        return None
    old_indent = source.line_indent(stmt.lineno - 1)
    new_indent = source.line_indent(anchor.lineno - 1)
    lines = source.lines[stmt.lineno - 1 : (stmt.end_lineno or stmt.lineno)]
    nl_join = newline(source)
    moved = nl_join.join(new_indent + l[len(old_indent) :] if l.startswith(old_indent) else l for l in lines)
    after = anchor.end_lineno or anchor.lineno  # 0-based index of the line below the anchor
    if after < len(source.lines):
        return (delete, insert_at(Position(after, 0), moved + nl_join))
    return (delete, insert_at(source.line_end(after - 1), nl_join + moved))

"""Parsing with error tolerance, and the one place that maps AST positions to spans.

`ast` reports columns as UTF-8 byte offsets; every span we hand out counts
characters. Keeping that conversion here (and nowhere else) is what will let
notebook cells map their own positions later with a small addition.
"""

from __future__ import annotations

import ast
import io
import itertools
import re
import tokenize
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .findings import Position, Span

if TYPE_CHECKING:
    from .incremental import StatementNames

_MAX_RECOVERY_ATTEMPTS = 25
# The name the parser sees for every text we parse. Never a real path: given a file name,
# CPython (3.11) reads a SyntaxError's line from that file on disk, not from the text it was
# given, and computes the error's column from it (wrong for an editor's unsaved buffer). No
# file can be named "" (a made-up "<name>" could exist in the working directory). The path
# we show is the SourceFile's own.
_PARSER_FILENAME = ""
_BLOCK_CONTINUATION = re.compile(r"(else|elif|except|finally|case)\b|[)\]}]")


@dataclass
class SyntaxProblem:
    message: str
    span: Span


@dataclass(eq=False)
class StatementFacts:
    """What is computed once per top-level statement node (`reparse` keeps the nodes, and so
    these facts, of the statements an edit leaves alone)."""

    # its nodes by depth (breadth-first) and their parents (resolve.statement_index)
    index: tuple[list[list[ast.AST]], dict[ast.AST, ast.AST]] | None = None
    # each level's nodes by type, in order (resolve.statement_types)
    types: list[dict[type, list[ast.AST]]] | None = None
    names: StatementNames | None = None  # what it defines and mentions (incremental.statement_names)
    positioned: list[ast.AST] | None = None  # its nodes that carry lines (`_shift` moves them)
    # each of its nodes' children, in `ast.iter_child_nodes` order (resolve.statement_index)
    children: dict[ast.AST, list[ast.AST]] | None = None


@dataclass
class SourceFile:
    path: str
    text: str
    tree: ast.Module
    syntax_error: SyntaxProblem | None = None
    lines: list[str] = field(default_factory=list)
    # 0-based lines [a, b) whose statements `reparse` recovered from a syntax error: their
    # nodes do not say what the text says, so the next `reparse` parses them again
    recovered: tuple[int, int] | None = None
    # per top-level statement node; `reparse` hands those of the statements it keeps on
    facts: dict[ast.AST, StatementFacts] = field(default_factory=dict, repr=False)

    def facts_of(self, stmt: ast.AST) -> StatementFacts:
        found = self.facts.get(stmt)
        if found is None:
            found = self.facts[stmt] = StatementFacts()
        return found

    # -- positions -------------------------------------------------------
    def char_col(self, line0: int, byte_col: int) -> int:
        if line0 < 0 or line0 >= len(self.lines):
            return byte_col
        line = self.lines[line0]
        if line.isascii():
            return byte_col
        return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def span(self, node: ast.AST) -> Span:
        # any node with a position (stmt, expr, arg, keyword, alias...): typeshed's AST has none
        located: Any = node
        line0 = located.lineno - 1
        end_line0 = (located.end_lineno or located.lineno) - 1
        end_col = located.end_col_offset if located.end_col_offset is not None else located.col_offset
        return Span(
            Position(line0, self.char_col(line0, located.col_offset)),
            Position(end_line0, self.char_col(end_line0, end_col)),
        )

    def start(self, node: ast.AST) -> Position:
        return self.span(node).start

    def segment(self, node: ast.AST) -> str:
        return self.text_of(self.span(node))

    def text_of(self, span: Span) -> str:
        if span.start.line == span.end.line:
            return self.lines[span.start.line][span.start.column : span.end.column]
        parts = [self.lines[span.start.line][span.start.column :]]
        parts.extend(self.lines[span.start.line + 1 : span.end.line])
        parts.append(self.lines[span.end.line][: span.end.column])
        return "\n".join(parts)

    def line_indent(self, line0: int) -> str:
        line = self.lines[line0] if 0 <= line0 < len(self.lines) else ""
        return line[: len(line) - len(line.lstrip())]

    def line_end(self, line0: int) -> Position:
        return Position(line0, len(self.lines[line0]))


class UnreadableFile(Exception):
    """The bytes cannot be decoded as Python source."""


def decode(data: bytes) -> str:
    """Decode source bytes the way Python does (BOM, PEP 263 cookie, else UTF-8)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise UnreadableFile(str(exc)) from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"file is not valid {encoding}: {exc.reason} at byte {exc.start}") from None
    except Exception as exc:
        raise UnreadableFile(f"cannot decode the file as {encoding}: {exc}") from None
    if encoding not in ("utf-8", "utf-8-sig"):  # strict UTF-8 never yields a surrogate
        surrogate = lone_surrogate(text)  # e.g. `# coding: unicode_escape` and "\\ud800" in a string
        if surrogate is not None:
            raise UnreadableFile(f"decoded as {encoding}, {surrogate}") from None
    text = text.removeprefix("\ufeff")
    return text


@dataclass(frozen=True)
class LoneSurrogate:
    """A code point no encoding can write (U+D800..U+DFFF on its own), e.g. in an editor's
    buffer: Python's parser refuses the whole text."""

    code_point: int
    at: Position

    def __str__(self) -> str:
        return f"it holds a lone surrogate (U+{self.code_point:04X}) at line {self.at.line + 1}, column {self.at.column + 1}"


_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def lone_surrogate(text: str) -> LoneSurrogate | None:
    """The first lone surrogate in `text`, or None."""
    if text.isascii():
        return None
    m = _SURROGATE.search(text)
    if m is None:
        return None
    before = text[: m.start()]
    line_start = max(before.rfind("\n"), before.rfind("\r")) + 1
    return LoneSurrogate(ord(m.group()), Position(len(_LINE_BREAK.findall(before)), m.start() - line_start))


def split_lines(text: str) -> list[str]:
    # ast counts lines on \n, \r\n and \r; so do we.
    return _LINE_BREAK.split(text)


_split_lines = split_lines


def _parse(text: str) -> ast.Module:
    """`ast.parse`, every time this module parses: positions come from `text` alone. The
    parser's warnings (`invalid escape sequence`, `invalid decimal literal`...) are for
    whoever runs the code: a linter reading it must not print them on stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text, filename=_PARSER_FILENAME)


def parse(path: str, text: str) -> SourceFile:
    """Parse `text`; on a syntax error keep the first error and recover the rest."""
    lines = _split_lines(text)
    try:
        tree = _parse(text)
        return SourceFile(path, text, tree, None, lines)
    except (SyntaxError, ValueError) as exc:
        first = problem_of(exc, lines)
    except (RecursionError, MemoryError):
        # CPython's parser gives up on very deep nesting; report it, analyse nothing
        problem = SyntaxProblem(
            "the file is nested too deeply for Python's parser", Span(Position(0, 0), Position(0, 0))
        )
        return SourceFile(path, text, ast.Module(body=[], type_ignores=[]), problem, lines)
    try:
        tree = _recover(text, lines)
    except (RecursionError, MemoryError):
        tree = ast.Module(body=[], type_ignores=[])
    return SourceFile(path, text, tree, first, lines)


def reparse(prev: SourceFile | None, path: str, text: str) -> SourceFile:
    """Parse `text`, an edit of `prev`'s text, re-parsing only the top-level statements the
    edit touches; the others keep their AST nodes, moved to their new lines.

    Reused nodes keep every cache keyed by node identity valid across keystrokes. For text
    that parses, the tree is the one `ast.parse(text)` gives (the tests compare them with
    positions). A syntax error in the edited statements is recovered there alone, so the rest
    of the file keeps its nodes (and its diagnostics) while the user types. `prev`'s tree is
    updated in place and must not be used afterwards. Anything else takes the full `parse`.
    """
    if prev is None or not prev.tree.body or (prev.syntax_error is not None and prev.recovered is None):
        return parse(path, text)
    lines = _split_lines(text)
    spliced = _splice(prev, lines, text)
    if spliced is None:
        return parse(path, text)
    tree, problem, recovered = spliced
    kept = {stmt: prev.facts[stmt] for stmt in tree.body if stmt in prev.facts}
    return SourceFile(path, text, tree, problem, lines, recovered, kept)


def edited_lines(old: list[str], new: list[str]) -> tuple[int, int]:
    """(p, e): the old lines [p, e) are what an edit replaced; those before and after it are
    the same in `new` (moved by the difference in length)."""
    limit = min(len(old), len(new))
    p = 0
    while p < limit and old[p] == new[p]:
        p += 1
    s = 0
    while s < limit - p and old[-1 - s] == new[-1 - s]:
        s += 1
    return p, len(old) - s


def statement_start(stmt: ast.stmt) -> int:
    """0-based first line of a statement, its decorators included."""
    first = stmt.lineno
    for d in getattr(stmt, "decorator_list", ()):
        first = min(first, d.lineno)
    return first - 1


def _splice(prev: SourceFile, lines: list[str], text: str):
    """(tree, syntax problem, recovered lines) with only the edited statements parsed again,
    or None when the edit reaches beyond them."""
    body = prev.tree.body
    p, changed_end = edited_lines(prev.lines, lines)  # old lines [p, changed_end) were replaced
    delta = len(lines) - len(prev.lines)
    if prev.recovered is not None:  # statements recovered last time are parsed again
        p, changed_end = min(p, prev.recovered[0]), max(changed_end, prev.recovered[1])
    starts = [statement_start(st) for st in body]
    # From the last statement starting before the edit (new indented lines may continue it)
    # to the first one starting after it (a new decorator line may belong to it).
    first = max(sum(1 for st in starts if st < p) - 1, 0)
    last = next((i for i, st in enumerate(starts) if st >= changed_end), len(body) - 1)
    r0 = starts[first] if first else 0
    r1 = (body[last].end_lineno or body[last].lineno) + delta if last < len(body) - 1 else len(lines)
    # blank lines up to the region: the parser numbers its lines as in the file (cheaper than
    # ast.increment_lineno, which walks every node again)
    padded = [""] * r0 + lines[r0:r1]
    region_text = "\n".join(padded)
    problem = recovered = None
    try:
        region = _parse(region_text)
    except (SyntaxError, ValueError):
        try:  # an edit that swallows what follows (an open bracket or string) fails as a whole
            _parse(text if _changes_grammar(body[:first]) else "\n".join([""] * r0 + lines[r0:]))
            return None  # it parses as a whole after all: the boundaries did not hold
        except (SyntaxError, ValueError) as whole:
            # the first error of the whole text, as a full parse reports it (the region's may
            # differ: "unterminated string literal (detected at line N)" names its last line).
            # The statements above the region parse and end at the top level: the parser
            # reaches the region in the same state without them, so the text from the region
            # on (their lines left blank: same positions) fails as the whole text does, in
            # the time of the rest of the file only
            problem = problem_of(whole, lines)
        except (RecursionError, MemoryError):
            return None
        try:
            region = _recover(region_text, padded)
        except (RecursionError, MemoryError):
            return None
        recovered = (r0, r1)
    except (RecursionError, MemoryError):
        return None
    tail = body[last + 1 :]
    if delta:
        for st in tail:
            _shift(prev.facts_of(st), st, delta)
    return ast.Module(body=[*body[:first], *region.body, *tail], type_ignores=[]), problem, recovered


def _changes_grammar(stmts: list[ast.stmt]) -> bool:
    """Do these statements change how the parser reads what follows? (`from __future__ import
    barry_as_FLUFL` makes `<>` an operator.)"""
    return any(isinstance(st, ast.ImportFrom) and st.module == "__future__" for st in stmts)


def _shift(facts: StatementFacts, stmt: ast.stmt, delta: int) -> None:
    """`ast.increment_lineno` for a statement that moves on every edit above it: the nodes
    that carry lines are listed once per statement node."""
    positioned = facts.positioned
    if positioned is None:
        positioned = facts.positioned = [n for n in ast.walk(stmt) if "lineno" in n._attributes]
    node: Any  # nodes whose `_attributes` name a position
    for node in positioned:
        node.lineno += delta
        if node.end_lineno is not None:
            node.end_lineno += delta


def problem_of(exc: Exception, lines: list[str]) -> SyntaxProblem:
    """The first syntax error of `lines` as a finding's message and span."""
    if isinstance(exc, SyntaxError) and exc.lineno is not None:
        line0 = max(exc.lineno - 1, 0)
        col0 = max((exc.offset or 1) - 1, 0)
        if line0 < len(lines):
            col0 = min(col0, len(lines[line0]))
        else:
            line0 = max(len(lines) - 1, 0)
            col0 = len(lines[line0]) if lines else 0
        end = Position(line0, len(lines[line0]) if line0 < len(lines) else col0)
        if end.column <= col0:
            end = Position(line0, col0)
        msg = exc.msg or "invalid syntax"
        return SyntaxProblem(f"SyntaxError: {msg}", Span(Position(line0, col0), end))
    # Python 3.11 gives no position for a NUL character (a SyntaxError, or a ValueError)
    for line0, line in enumerate(lines):
        col0 = line.find("\0")
        if col0 >= 0:
            return SyntaxProblem(
                "SyntaxError: source code cannot contain null bytes", Span.of(line0, col0, line0, col0 + 1)
            )
    msg = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)
    return SyntaxProblem(f"SyntaxError: {msg}", Span(Position(0, 0), Position(0, 0)))


def _recover(text: str, lines: list[str]) -> ast.Module:
    """Blank out broken lines (then broken top-level chunks) until the rest parses.

    Line numbers are preserved, so everything recovered keeps its real position.
    """
    try:
        return _parse("\n".join(recovered_lines(lines)))
    except (SyntaxError, ValueError):
        return ast.Module(body=[], type_ignores=[])


def recovered_lines(lines: list[str]) -> list[str]:
    """`lines` with broken lines replaced by `pass` (then broken top-level chunks blanked)
    until they parse; as many lines as given. (Notebook cells that do not parse become these.)"""
    work = list(lines)
    for _ in range(_MAX_RECOVERY_ATTEMPTS):
        try:
            _parse("\n".join(work))
            return work
        except SyntaxError as exc:
            if exc.lineno is None:  # e.g. a NUL character: no line to blank out
                break
            line0 = exc.lineno - 1
            if not (0 <= line0 < len(work)) or not work[line0].strip() or work[line0].strip() == "pass":
                break
            indent = work[line0][: len(work[line0]) - len(work[line0].lstrip())]
            work[line0] = indent + "pass"
        except ValueError:
            break
    return _recover_by_chunks(lines)


def _recover_by_chunks(lines: list[str]) -> list[str]:
    starts = [
        i
        for i, line in enumerate(lines)
        if line[:1] not in ("", " ", "\t", "#") and not _BLOCK_CONTINUATION.match(line)
    ]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    starts.append(len(lines))
    kept = [""] * len(lines)
    for a, b in itertools.pairwise(starts):
        # Decorators belong to the statement below them; a chunk starting
        # with one simply extends until the next top-level line.
        chunk = lines[a:b]
        try:
            _parse("\n".join(chunk))
        except (SyntaxError, ValueError):
            continue
        kept[a:b] = chunk
    try:
        _parse("\n".join(kept))
        return kept
    except (SyntaxError, ValueError):
        return [""] * len(lines)

"""Jupyter notebooks: the code cells, in order, as one program, and the one mapping between
program positions and cell positions.

Rules never see a notebook: they see the program (`Program.text`), where every code cell
starts on its own line and IPython syntax (`%time`, `!pip`, `obj?`, `%%bash` cells) is masked
with Python of the same lines. A cell that does not parse gets its own syntax error; the
engine recovers its lines as it does a broken file's, and each cell starts at the top level,
so one bad cell cannot hide the others. Masking keeps every
other line and column as it is, which is what makes the mapping a table lookup.
"""

from __future__ import annotations

import ast
import bisect
import json
import re
import warnings
from dataclasses import dataclass, field, replace

from ..codes import SYNTAX_ERROR
from .findings import Edit, Finding, Position, Severity, Span
from .source import SyntaxProblem, problem_of, split_lines

# Cell magics whose body is Python (ruff lints the same ones); any other `%%` cell is
# another language (`%%bash`, `%%writefile`, `%%html`...) and is masked whole.
PYTHON_CELL_MAGICS = frozenset({"capture", "debug", "prun", "pypy", "python", "python3", "time", "timeit"})
_ASSIGNED_MAGIC = re.compile(r"^(\s*)([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*=\s*[!%]")
# line magics that run the statement after them (without options): the statement stays
_TIMED = re.compile(r"^(\s*)%(?:time|timeit|prun|memit)[ \t]+(?=[^\s-])")
_HELP = re.compile(r"^\s*\?\??\S|^\s*[\w.\[\]()'\"]+\?\??\s*$")


class NotebookError(ValueError):
    """The file is not a notebook torchlint can read; the message says why."""


@dataclass
class Cell:
    number: int  # 1-based among all cells, as ruff and `torchlint check` print it
    kind: str  # "code", "markdown", "raw"
    source: str


@dataclass
class Notebook:
    raw: str  # the file's JSON text, kept to write back only what a fix changed
    cells: list[Cell]
    language: str | None = None  # the kernel's language, when the notebook says

    @property
    def code_cells(self) -> list[Cell]:
        return [c for c in self.cells if c.kind == "code"]


def read_notebook(raw: str) -> Notebook:
    """Parse an `.ipynb` file's text (nbformat 4). Raises NotebookError."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"the notebook is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise NotebookError("the notebook's JSON is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise NotebookError("the file is JSON but not a notebook (no top-level object)")
    if "cells" not in data:
        if "worksheets" in data:
            raise NotebookError(
                "nbformat 3 notebooks are not supported (open and save it in Jupyter to convert it to nbformat 4)"
            )
        raise NotebookError("the file is JSON but not a notebook (no `cells`)")
    if not isinstance(data["cells"], list):
        raise NotebookError("the notebook's `cells` is not a list")
    cells = []
    for i, c in enumerate(data["cells"], start=1):
        if not isinstance(c, dict):
            raise NotebookError(f"cell {i} is not an object")
        cells.append(Cell(i, str(c.get("cell_type", "")), _source_text(c.get("source", ""), i)))
    return Notebook(raw, cells, _language(data.get("metadata")))


def _source_text(source: object, number: int) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    raise NotebookError(f"cell {number}'s `source` is neither a string nor a list of strings")


def _language(metadata: object) -> str | None:
    if not isinstance(metadata, dict):
        return None
    for key, sub in (("kernelspec", "language"), ("language_info", "name")):
        value = metadata.get(key)
        if isinstance(value, dict) and isinstance(value.get(sub), str):
            return value[sub]
    return None


def is_python(language: str | None) -> bool:
    return language is None or language.lower().startswith(("python", "ipython")) or language.lower() == "py"


# -- the program ---------------------------------------------------------------------------


@dataclass
class CellRange:
    number: int  # the cell's number in the notebook (1-based)
    start: int  # its first line in the program (0-based)
    source: str  # the cell's text, as written (what fixes edit)
    lines: list[str]  # its lines
    changed: frozenset[int] = frozenset()  # cell lines the program holds masked or recovered
    # IPython removes the first line's indentation from every line that starts with it (its
    # `leading_indent` transform): the program holds those lines without it
    indent: str = ""
    moved: dict[int, tuple[int, int]] = field(default_factory=dict)  # see `mask_magics`

    @property
    def end(self) -> int:
        return self.start + len(self.lines)

    def shift(self, line: int) -> int:
        """Columns of cell line `line` minus those of the program's line."""
        if self.indent and 0 <= line < len(self.lines) and self.lines[line].startswith(self.indent):
            return len(self.indent)
        return 0

    def local(self, pos: Position) -> Position:
        """A program position (on one of this cell's lines) in the cell's own coordinates."""
        line = pos.line - self.start
        column = pos.column
        if line in self.moved and column >= self.moved[line][0]:
            column += self.moved[line][1]
        return Position(line, column + self.shift(line))

    def program_column(self, line: int, column: int) -> int:
        """The inverse of `local` for a cell line and column."""
        column = max(column - self.shift(line), 0)
        if line in self.moved:
            at, removed = self.moved[line]
            column = column - removed if column >= at + removed else min(column, at)
        return column


@dataclass
class Program:
    text: str
    cells: list[CellRange]
    # cells that do not parse on their own: (cell number, the problem in cell coordinates)
    problems: list[tuple[int, SyntaxProblem]] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._starts = [c.start for c in self.cells]

    def cell_at(self, line: int) -> CellRange | None:
        i = bisect.bisect_right(self._starts, line) - 1
        if i < 0:
            return None
        cell = self.cells[i]
        return cell if line < cell.end else None

    def to_cell(self, span: Span) -> tuple[int, Span] | None:
        """(cell number, the span relative to that cell), or None when `span` is not inside
        one cell. A span ending at column 0 of the next cell's first line ends its own cell."""
        cell = self.cell_at(span.start.line)
        if cell is None:
            return None
        end = span.end
        if end.line == cell.end and end.column == 0 and end.line > span.start.line:
            last = len(cell.lines) - 1
            end = Position(cell.end - 1, len(cell.lines[last]))
        if end.line >= cell.end:
            return None
        return cell.number, Span(cell.local(span.start), cell.local(end))

    def to_program(self, number: int, span: Span) -> Span | None:
        """The inverse of `to_cell` for a code cell of the program."""
        for cell in self.cells:
            if cell.number == number:
                if span.end.line >= max(len(cell.lines), 1) and not (
                    span.end.line == len(cell.lines) and span.end.column == 0
                ):
                    return None
                a, b = span.start, span.end
                return Span(
                    Position(a.line + cell.start, cell.program_column(a.line, a.column)),
                    Position(b.line + cell.start, cell.program_column(b.line, b.column)),
                )
        return None

    def cell(self, number: int) -> CellRange | None:
        return next((c for c in self.cells if c.number == number), None)

    def editable(self, span: Span) -> tuple[CellRange, Span] | None:
        """Where an edit of the program lands in a cell's own text: None when it crosses a cell
        boundary or touches a line the program holds masked (a magic, a recovered line)."""
        mapped = self.to_cell(span)
        if mapped is None:
            return None
        number, local = mapped
        cell = self.cell(number)
        assert cell is not None
        touched = range(local.start.line, local.end.line + 1)
        if any(line in cell.changed for line in touched):
            return None
        return cell, local

    def cell_edit(self, edit: Edit) -> tuple[CellRange, Edit] | None:
        """`edit` of the program as an edit of a cell's own text (None: see `editable`). New
        lines get the cell's IPython-removed indentation back."""
        where = self.editable(edit.span)
        if where is None:
            return None
        cell, span = where
        content = edit.content
        if cell.indent and "\n" in content:
            content = re.sub(r"(\r\n|\r|\n)(?=[^\r\n])", lambda m: m.group(1) + cell.indent, content)
        return cell, Edit(span, content)


def build_program(cells: list[tuple[int, str]]) -> Program:
    """The program of the code cells `(number, source)`, in the order given."""
    ranges: list[CellRange] = []
    program_lines: list[str] = []
    problems: list[tuple[int, SyntaxProblem]] = []
    for number, source in cells:
        lines = cell_lines(source)
        indent = _leading_indent(lines)
        masked, changed, moved = mask_magics([line.removeprefix(indent) for line in lines])
        try:
            _parse_cell(masked)
        except (SyntaxError, ValueError) as exc:
            # reported for this cell alone; the program keeps its lines and the engine recovers
            # them as in a broken .py file (so rules know that code there went unread)
            problem = problem_of(exc, masked)
            here = CellRange(number, 0, source, lines, frozenset(), indent, moved)
            problems.append(
                (
                    number,
                    SyntaxProblem(problem.message, Span(here.local(problem.span.start), here.local(problem.span.end))),
                )
            )
        except (RecursionError, MemoryError):
            problems.append(
                (number, SyntaxProblem("the cell is nested too deeply for Python's parser", Span.of(0, 0, 0, 0)))
            )
            changed |= set(range(len(masked)))
            masked = [""] * len(masked)
        ranges.append(CellRange(number, len(program_lines), source, lines, frozenset(changed), indent, moved))
        program_lines.extend(masked)
    text = "\n".join(program_lines) + ("\n" if program_lines else "")
    return Program(text, ranges, problems)


def _leading_indent(lines: list[str]) -> str:
    """IPython's `leading_indent`: the whitespace starting the cell's first line."""
    m = re.match(r"[ \t]+", lines[0]) if lines else None
    return m.group() if m else ""


def notebook_program(nb: Notebook) -> Program:
    return build_program([(c.number, c.source) for c in nb.code_cells])


def cell_lines(source: str) -> list[str]:
    """A cell's lines; a final line break ends the last line rather than starting another."""
    if not source:
        return []
    lines = split_lines(source)
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def _parse_cell(lines: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ast.parse("\n".join(lines), filename="")


# -- IPython syntax ------------------------------------------------------------------------


def mask_magics(lines: list[str]) -> tuple[list[str], set[int], dict[int, tuple[int, int]]]:
    """`lines` with IPython syntax replaced by Python of the same lines and indentation, the
    indices of the lines changed, and the lines whose statement moved left: `%time x = f()`
    runs `x = f()`, so it stays (line -> (column where the statement now starts, columns
    removed)). Everything else becomes `pass` (or `x = None` for `x = !ls`)."""
    out = list(lines)
    changed: set[int] = set()
    moved: dict[int, tuple[int, int]] = {}
    first = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        name = lines[first].lstrip()[2:].split(None, 1)[0] if lines[first].lstrip()[2:].strip() else ""
        if name not in PYTHON_CELL_MAGICS:  # another language: nothing here is Python
            return [""] * len(lines), set(range(len(lines))), {}
        out[first] = _indent(lines[first]) + "pass"
        changed.add(first)
    continued = False  # the previous masked line ended with a backslash
    for i, starts in enumerate(_statement_starts(lines)):
        if i in changed:
            continue
        line = lines[i]
        if continued:
            out[i] = ""
            changed.add(i)
            continued = line.rstrip().endswith("\\")
            continue
        if not starts:
            continue
        stripped = line.lstrip()
        if (m := _TIMED.match(line)) is not None and not line.rstrip().endswith("\\"):
            out[i] = m.group(1) + line[m.end() :]
            moved[i] = (len(m.group(1)), m.end() - len(m.group(1)))
        elif stripped.startswith(("%", "!")) or _HELP.match(line):
            out[i] = _indent(line) + "pass"
        elif (m := _ASSIGNED_MAGIC.match(line)) is not None:
            out[i] = f"{m.group(1)}{m.group(2)} = None"
        else:
            continue
        changed.add(i)
        continued = line.rstrip().endswith("\\")
    return out, changed, moved


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _statement_starts(lines: list[str]) -> list[bool]:
    """For each line: does a new statement start there? False inside brackets, after a
    backslash and inside triple-quoted strings, so that `%` or `!` there stays Python."""
    starts: list[bool] = []
    depth = 0
    quote: str | None = None  # the open triple quote
    backslash = False
    for line in lines:
        starts.append(depth == 0 and quote is None and not backslash)
        i, n = 0, len(line)
        while i < n:
            ch = line[i]
            if quote is not None:
                if ch == "\\":
                    i += 2
                    continue
                if line.startswith(quote, i):
                    i += 3
                    quote = None
                    continue
                i += 1
                continue
            if ch == "#":
                break
            if ch in "\"'":
                if line.startswith(ch * 3, i):
                    quote = ch * 3
                    i += 3
                    continue
                j = i + 1  # a one-line string: skip to its end
                while j < n and line[j] != ch:
                    j += 2 if line[j] == "\\" else 1
                i = j + 1
                continue
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth = max(depth - 1, 0)
            i += 1
        backslash = quote is None and line.rstrip().endswith("\\") and not line.lstrip().startswith("#")
    return starts


# -- writing back --------------------------------------------------------------------------


def with_sources(raw: str, sources: dict[int, str]) -> str:
    """The notebook's JSON text with the `source` of the cells numbered in `sources` replaced;
    every other byte stays as it was (outputs, ids, metadata, indentation, escaping, the
    final newline)."""
    spans = _source_spans(raw)
    ascii_only = _escapes_non_ascii(raw)
    out, cursor = [], 0
    for number in sorted(sources):
        if number not in spans:
            raise NotebookError(f"cell {number} has no `source` to write")
        key_start, a, b = spans[number]
        out.append(raw[cursor:a])
        out.append(_format_source(raw, key_start, raw[a:b], sources[number], ascii_only))
        cursor = b
    out.append(raw[cursor:])
    return "".join(out)


_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _ws(s: str, i: int) -> int:
    return _WS.match(s, i).end()  # type: ignore[union-attr]


def _members(s: str, i: int):
    """(key, key start, value start, value end) of the object starting at s[i] == "{"."""
    i = _ws(s, i + 1)
    while i < len(s) and s[i] != "}":
        key, j = json.decoder.scanstring(s, i + 1)  # type: ignore[attr-defined]
        j = _ws(s, j)
        j = _ws(s, j + 1)  # past ":"
        _, end = _DECODER.raw_decode(s, j)
        yield key, i, j, end
        i = _ws(s, end)
        if i < len(s) and s[i] == ",":
            i = _ws(s, i + 1)


def _source_spans(raw: str) -> dict[int, tuple[int, int, int]]:
    """cell number -> (start of the "source" key, start and end of its value) in `raw`."""
    i = _ws(raw, 0)
    for key, _, a, _ in _members(raw, i):
        if key != "cells":
            continue
        spans: dict[int, tuple[int, int, int]] = {}
        j, number = _ws(raw, a + 1), 0
        while j < len(raw) and raw[j] != "]":
            number += 1
            _, end = _DECODER.raw_decode(raw, j)
            if raw[j] == "{":
                for k, key_start, va, vb in _members(raw, j):
                    if k == "source":
                        spans[number] = (key_start, va, vb)
            j = _ws(raw, end)
            if j < len(raw) and raw[j] == ",":
                j = _ws(raw, j + 1)
        return spans
    return {}


def _escapes_non_ascii(raw: str) -> bool:
    """Was the file written with `ensure_ascii` (non-ASCII text as \\uXXXX escapes)?"""
    if not raw.isascii():
        return False
    return any(int(m.group(1), 16) >= 0x80 for m in re.finditer(r"\\u([0-9a-fA-F]{4})", raw))


def _format_source(raw: str, key_start: int, old: str, text: str, ascii_only: bool) -> str:
    """`text` as a `source` value in the style of the value it replaces (`old`)."""
    if old.startswith('"'):
        return json.dumps(text, ensure_ascii=ascii_only)
    lines = text.splitlines(keepends=True)  # nbformat splits on every line break
    if not lines:
        return "[]"
    inner = old[1:-1]
    if inner.strip():
        first = re.match(r"\s*", inner).group()  # type: ignore[union-attr]
        closing = re.search(r"\s*$", inner).group()  # type: ignore[union-attr]
        sep = "," + first
    else:  # an empty list: indent one level below the key, as the file indents
        line_start = raw.rfind("\n", 0, key_start) + 1
        key_indent = re.match(r"[ \t]*", raw[line_start:key_start]).group()  # type: ignore[union-attr]
        unit = _indent_unit(raw)
        if unit is None:  # a single-line file: keep it on one line
            first, closing, sep = "", "", ", "
        else:
            first, closing, sep = "\n" + key_indent + unit, "\n" + key_indent, ",\n" + key_indent + unit
    return "[" + first + sep.join(json.dumps(line, ensure_ascii=ascii_only) for line in lines) + closing + "]"


def _indent_unit(raw: str) -> str | None:
    m = re.match(r"\s*\{\r?\n([ \t]+)\"", raw)
    return m.group(1) if m else None


# -- findings ------------------------------------------------------------------------------


def cell_problems(program: Program, path: str) -> list[Finding]:
    """`syntax-error` for each cell that does not parse, in program coordinates. (They replace
    the engine's one syntax error for the whole program, which names only the first.)"""
    out = []
    for number, problem in program.problems:
        span = program.to_program(number, problem.span)
        if span is not None:
            out.append(Finding(SYNTAX_ERROR, problem.message, path, span, Severity.ERROR))
    return out


def to_cells(program: Program, finding: Finding) -> Finding:
    """`finding` (program coordinates) relative to its cell: span, fix edits and related
    spans in the same notebook. A fix whose edits leave the cell or touch a masked line is
    dropped (it could not be applied to what the user wrote); a finding outside every cell
    (a note about the whole notebook) is left as it is."""
    mapped = program.to_cell(finding.span)
    if mapped is None:
        start = program.cell_at(finding.span.start.line)
        if start is None:
            return finding
        end = Position(start.end - 1, len(start.lines[-1]) if start.lines else 0)
        mapped = program.to_cell(Span(finding.span.start, end))
        if mapped is None:
            return finding
    number, span = mapped
    fix = None
    if finding.fix is not None:
        edits = []
        for e in finding.fix.edits:
            located = program.cell_edit(e)
            if located is None or located[0].number != number:
                break
            edits.append(located[1])
        else:
            fix = replace(finding.fix, edits=tuple(edits))
    related = []
    for r in finding.related:
        if r.path == finding.path:
            where = program.to_cell(r.span)
            if where is None:
                continue
            r = replace(r, span=where[1], cell=where[0])
        related.append(r)
    return replace(finding, span=span, fix=fix, related=tuple(related), cell=number)

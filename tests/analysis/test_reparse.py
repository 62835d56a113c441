"""`reparse` (the editor path: only the statements an edit touches are parsed again) must give
exactly the tree `ast.parse` gives, positions included, over long chains of edits of the kinds
typing produces: characters, new and deleted lines, indentation, decorators, comments, code
that stops parsing and parses again."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

from torchlint.analysis.source import SourceFile, parse, problem_of, reparse

ROOT = Path(__file__).resolve().parents[2]


def _parses(path: Path) -> bool:
    try:
        ast.parse(path.read_text(encoding="utf-8"))
    except SyntaxError:
        return False  # a fixture of broken code: the chains below start from code that parses
    return True


CORPUS = sorted(
    p
    for p in [
        *ROOT.glob("examples/*.py"),
        *ROOT.glob("tests/fixtures/rules/**/*.py"),
        ROOT / "bench" / "lsp_latency.py",
    ]
    if _parses(p)
)


def _edit(rng: random.Random, lines: list[str]) -> list[str]:
    lines = list(lines)
    i = rng.randrange(len(lines) + 1)
    near = lines[min(i, len(lines) - 1)] if lines else ""
    indent = near[: len(near) - len(near.lstrip())]
    kind = rng.randrange(9)
    if kind == 0 and lines:  # delete a line
        del lines[min(i, len(lines) - 1)]
    elif kind == 1:  # a copy of some other line, at its own indentation
        lines.insert(i, rng.choice(lines) if lines else "x = 1")
    elif kind == 2:  # a new statement at the neighbour's indentation
        lines.insert(i, indent + rng.choice(["optimizer.zero_grad()", "x = 1", "pass", "model.eval()", "print(x)"]))
    elif kind == 3 and lines:  # type or delete a character
        j = min(i, len(lines) - 1)
        line = lines[j]
        k = rng.randrange(len(line) + 1)
        lines[j] = line[:k] + rng.choice(["a", " ", "(", ")", ":", "", "#", '"']) + line[k + 1 :]
    elif kind == 4:
        lines.insert(i, "")
    elif kind == 5:
        lines.insert(i, indent + "# a comment")
    elif kind == 6:  # a decorator above whatever is here
        lines.insert(i, indent + "@torch.no_grad()")
    elif kind == 7 and lines:  # indent or dedent a line
        j = min(i, len(lines) - 1)
        lines[j] = ("    " + lines[j]) if rng.random() < 0.5 else lines[j].removeprefix("    ")
    else:  # a whole new top-level function
        lines[i:i] = ["", "def helper_%d(model):" % i, "    model.train()", ""]
    return lines


def _same(a: ast.AST, b: ast.AST) -> bool:
    return ast.dump(a, include_attributes=True) == ast.dump(b, include_attributes=True)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_reparse_equals_a_full_parse_along_an_edit_chain(path: Path):
    rng = random.Random(str(path.relative_to(ROOT)))
    text = path.read_text()
    source = parse(str(path), text)
    reused = 0
    good = text
    for _ in range(80):
        # typing breaks the code now and then; the next keystrokes (here: an undo) mend it
        text = "\n".join(_edit(rng, text.split("\n"))) if text == good else good
        before = {id(s) for s in source.tree.body}
        source = reparse(source, str(path), text)
        try:
            expected = ast.parse(text)
        except (SyntaxError, ValueError) as exc:
            # the error a full parse reports, wherever reparse looked for it
            assert source.syntax_error == problem_of(exc, text.split("\n"))
            continue
        good = text
        assert source.syntax_error is None
        assert _same(source.tree, expected)
        reused += sum(1 for s in source.tree.body if id(s) in before)
    if len(source.tree.body) > 3:
        assert reused > 0  # statements the edits did not touch kept their nodes


def test_an_edit_that_opens_a_string_over_the_next_statements_parses_the_whole_file():
    text = "import torch\n\n\ndef f():\n    return 1\n\n\ndef g():\n    return 2\n"
    source = parse("t.py", text)
    edited = text.replace("return 1", 'return """1')
    again = reparse(source, "t.py", edited)
    assert again.syntax_error is not None and "unterminated" in again.syntax_error.message
    closed = edited.replace("return 2", 'return 2"""')
    final = reparse(again, "t.py", closed)
    assert final.syntax_error is None and _same(final.tree, ast.parse(closed))


def test_a_line_typed_below_a_function_joins_its_body():
    text = "def f():\n    a = 1\n\nb = 2\n"
    source = parse("t.py", text)
    edited = "def f():\n    a = 1\n    c = 3\nb = 2\n"
    again = reparse(source, "t.py", edited)
    assert _same(again.tree, ast.parse(edited))
    assert len(again.tree.body[0].body) == 2


def test_an_error_below_a_future_import_is_the_whole_files():
    # the parser reads the rest of the file from the edited statements on only, except below a
    # `__future__` import (one may change the grammar: `barry_as_FLUFL` and `<>`)
    text = "from __future__ import barry_as_FLUFL\n\n\ndef f():\n    return 1\n\n\ndef g():\n    return 2\n"
    _reparsed_with_the_full_parse_error(text, text.replace("return 1", "x = 1 <> 2\n    y = ("))


def test_an_unclosed_bracket_in_a_long_file_is_reported_where_a_full_parse_reports_it():
    body = "".join(f"\n\ndef f{i}(x):\n    y = x + {i}\n    return y\n" for i in range(200))
    text = "import torch\n" + body
    source, again = _reparsed_with_the_full_parse_error(
        text, text.replace("    y = x + 100\n", "    y = x + 100\n    acc = (y.argmax(\n")
    )
    assert again.syntax_error is not None and "never closed" in again.syntax_error.message
    assert again.tree.body[0] is source.tree.body[0]  # the statements above kept their nodes


def _reparsed_with_the_full_parse_error(text: str, edited: str) -> tuple[SourceFile, SourceFile]:
    """(parse of `text`, `reparse` of it to `edited`), the second's error the one `ast.parse`
    of `edited` reports."""
    source = parse("t.py", text)
    again = reparse(source, "t.py", edited)
    with pytest.raises(SyntaxError) as exc:
        ast.parse(edited)
    assert again.syntax_error == problem_of(exc.value, edited.split("\n"))
    return source, again

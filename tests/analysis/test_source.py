"""Parsing: error recovery keeps the rest of the file, and spans count characters."""

from __future__ import annotations

import textwrap

import pytest

from torchlint.analysis.source import UnreadableFile, decode, parse
from torchlint.checker import Checker

LOOP = textwrap.dedent(
    """\
    def train(model, loader, optimizer):
        for x, y in loader:
            loss = model(x).sum()
            loss.backward()
            optimizer.step()
    """
)


def _found(text: str) -> set[tuple[int, str]]:
    return {(f.span.start.line + 1, f.code) for f in Checker().check("/tmp/t.py", text)}


@pytest.mark.parametrize(
    "broken",
    [
        "def half_typed(:\n    pass\n",
        "def half_typed():\n    x = (1,\n\n",
        "def half_typed():\n    if x\n        y = 1\n",
        "class C:\n    def m(self):\n        return [\n",
    ],
)
def test_syntax_error_in_one_function_keeps_findings_elsewhere(broken):
    text = "import torch\n\n" + broken + "\n\n" + LOOP
    found = _found(text)
    assert any(code == "syntax-error" for _, code in found)
    loop_line = text.splitlines().index("        loss.backward()") + 1
    assert (loop_line, "TL101") in found, found


def test_error_before_the_loop_in_the_same_file_is_reported_first():
    text = "import torch\nx = = 1\n" + LOOP
    source = parse("t.py", text)
    assert source.syntax_error is not None
    assert source.syntax_error.span.start.line == 1


def test_columns_count_characters_not_bytes():
    text = "import torch\nnäme = 'é'; model.eval\n"
    source = parse("t.py", text)
    attr = source.tree.body[1].value  # the Assign of `näme`
    assert source.span(attr).start.column == 7
    expr = source.tree.body[2].value
    assert source.segment(expr) == "model.eval"
    assert source.span(expr).start.column == 12


def test_decode_honours_cookie_and_bom_and_rejects_bad_bytes():
    assert decode("x = 'é'\n".encode("utf-8-sig")) == "x = 'é'\n"
    assert decode(b"# coding: latin-1\nx = '\xe9'\n").endswith("'é'\n")
    with pytest.raises(UnreadableFile):
        decode(b"x = '\xff\xfe'\n")


def test_crlf_line_endings_keep_positions():
    text = LOOP.replace("\n", "\r\n")
    assert _found("import torch\r\n" + text) == {(5, "TL101")}

"""Notebook programs: IPython syntax masked line for line, broken cells recovered alone, and the
mapping between program and cell positions."""

from __future__ import annotations

import ast

import pytest

from torchlint.analysis.findings import Position, Span
from torchlint.analysis.notebook import (
    NotebookError,
    build_program,
    cell_lines,
    mask_magics,
    read_notebook,
    with_sources,
)

MAGIC_LINES = [
    "%matplotlib inline",
    "!pip install -q torch",
    "%time model(x)",
    "%timeit -n 3 f()",
    "files = !ls data/",
    "out, err = %sx ls",
    "model?",
    "torch.optim.SGD??",
    "?torch",
    "??DataLoader",
    "%load_ext autoreload",
    "%env CUDA_VISIBLE_DEVICES=0",
]


@pytest.mark.parametrize("line", MAGIC_LINES)
def test_each_magic_is_masked_into_python(line):
    masked, changed, _ = mask_magics([line])
    ast.parse("\n".join(masked))
    assert changed == {0}


def test_masking_keeps_lines_indentation_and_the_rest():
    lines = ["for x in xs:", "    %matplotlib inline", "    !echo \\", "      continued", "    z = x  # 100% sure!"]
    masked, changed, _ = mask_magics(lines)
    assert len(masked) == len(lines)
    assert masked[1] == "    pass" and changed == {1, 2, 3}
    assert masked[4] == lines[4] and masked[0] == lines[0]
    ast.parse("\n".join(masked))


def test_percent_and_bang_inside_python_are_not_magics():
    lines = ["s = '''", "!not a magic", "%neither", "'''", "value = (1 +", "    2", "    % 3)", "ok = a \\", "    != b"]
    masked, changed, _ = mask_magics(lines)
    assert masked == lines and not changed


def test_cell_magic_of_another_language_masks_the_whole_cell():
    lines = ["%%bash", "echo 'not python ('", "ls"]
    masked, changed, _ = mask_magics(lines)
    assert masked == ["", "", ""] and changed == {0, 1, 2}


def test_python_cell_magic_keeps_its_body():
    masked, changed, _ = mask_magics(["# timing", "%%time", "for i in range(3):", "    f(i)"])
    assert masked[1] == "pass" and masked[2:] == ["for i in range(3):", "    f(i)"] and changed == {1}


def test_program_maps_positions_to_cells_and_back():
    program = build_program([(2, "import torch\n"), (4, "x = 1\ny = torch.ones(2)\n"), (5, ""), (7, "z = y")])
    assert program.text == "import torch\nx = 1\ny = torch.ones(2)\nz = y\n"
    assert program.to_cell(Span.of(2, 4, 2, 10)) == (4, Span.of(1, 4, 1, 10))
    assert program.to_cell(Span.of(3, 0, 3, 5)) == (7, Span.of(0, 0, 0, 5))
    assert program.to_cell(Span.of(1, 0, 3, 1)) is None  # crosses cells
    assert program.to_program(4, Span.of(1, 4, 1, 10)) == Span.of(2, 4, 2, 10)
    # a span ending at the start of the next cell (a whole-statement span) ends its own cell
    assert program.to_cell(Span.of(1, 0, 3, 0)) == (4, Span.of(0, 0, 1, 17))
    assert program.to_cell(Span.of(1, 0, 2, 0)) == (4, Span.of(0, 0, 1, 0))


def test_broken_cell_is_reported_in_its_coordinates_and_kept_for_the_engine():
    program = build_program([(1, "import torch\n"), (2, "x = 1\ndef f(:\n    pass\n"), (3, "y = 2\n")])
    assert [(n, p.span.start) for n, p in program.problems] == [(2, Position(1, 6))]
    # the program holds what the user wrote: the engine recovers it like a broken file
    assert program.text == "import torch\nx = 1\ndef f(:\n    pass\ny = 2\n"


def test_cell_lines_final_newline_ends_the_last_line():
    assert cell_lines("a\nb\n") == ["a", "b"]
    assert cell_lines("a\nb") == ["a", "b"]
    assert cell_lines("a\n\n") == ["a", ""]
    assert cell_lines("") == []


@pytest.mark.parametrize(
    "raw, why",
    [
        ("[1, 2]", "not a notebook"),
        ('{"worksheets": []}', "nbformat 3"),
        ('{"cells": {}}', "not a list"),
        ('{"cells": [{"cell_type": "code", "source": 3}]}', "neither a string"),
        ('{"cells": [', "not valid JSON"),
    ],
)
def test_bad_notebooks_say_why(raw, why):
    with pytest.raises(NotebookError, match=why):
        read_notebook(raw)


def test_with_sources_changes_only_the_source_values():
    raw = '{\n "cells": [\n  {\n   "cell_type": "code",\n   "metadata": {"source": "not me"},\n   "source": [\n    "a = 1\\n",\n    "b = 2"\n   ]\n  },\n  {"cell_type": "markdown", "source": "caf\\u00e9"},\n  {"cell_type": "code", "source": []}\n ]\n}'
    new = with_sources(raw, {1: "a = 1\nb = 3\nc = 4\n", 3: "x = 1\ny = 2"})
    assert new == raw.replace('"a = 1\\n",\n    "b = 2"', '"a = 1\\n",\n    "b = 3\\n",\n    "c = 4\\n"').replace(
        '"source": []', '"source": [\n   "x = 1\\n",\n   "y = 2"\n  ]'
    )
    assert read_notebook(new).cells[0].source == "a = 1\nb = 3\nc = 4\n"


def test_a_cell_indented_as_a_whole_is_dedented_like_ipython_does():
    program = build_program([(1, " import torch\n x = torch.ones(2)\n for i in range(2):\n     x = x + i\n")])
    assert not program.problems
    assert program.text.splitlines()[1] == "x = torch.ones(2)"
    # positions come back with the indentation the user sees
    assert program.to_cell(Span.of(1, 0, 1, 1)) == (1, Span.of(1, 1, 1, 2))
    assert program.to_program(1, Span.of(1, 1, 1, 2)) == Span.of(1, 0, 1, 1)
    # inserted lines get it back, so the cell stays uniformly indented
    from torchlint.analysis.findings import Edit

    _cell, edit = program.cell_edit(Edit(Span.of(3, 9, 3, 9), "\n    print(x)"))
    assert edit == Edit(Span.of(3, 10, 3, 10), "\n     print(x)")


def test_timed_statements_still_run_and_map_back_to_their_columns():
    masked, changed, moved = mask_magics(["for x in xs:", "    %time y = f(x)", "%timeit -n1 g()"])
    assert masked == ["for x in xs:", "    y = f(x)", "pass"] and changed == {1, 2} and moved == {1: (4, 6)}
    program = build_program([(3, "for x in xs:\n    %time y = f(x)\n")])
    assert program.text == "for x in xs:\n    y = f(x)\n"
    assert program.to_cell(Span.of(1, 8, 1, 12)) == (3, Span.of(1, 14, 1, 18))  # `f(x)`
    assert program.to_program(3, Span.of(1, 14, 1, 18)) == Span.of(1, 8, 1, 12)
    assert program.editable(Span.of(1, 8, 1, 12)) is None  # a fix never edits a magic's line

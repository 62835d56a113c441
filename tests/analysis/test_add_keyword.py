"""`edits.add_keyword`: the keyword lands after the last argument (trailing commas and
multi-line calls stay valid), inside empty parentheses, and not at all where the call's
parentheses belong to a bare generator argument."""

from __future__ import annotations

import ast

import pytest

from torchlint.analysis.edits import add_keyword
from torchlint.analysis.source import parse
from torchlint.fixes import apply_edits


@pytest.mark.parametrize(
    "before, after",
    [
        ("torch.load(f)\n", "torch.load(f, weights_only=True)\n"),
        ("torch.load(f, map_location='cpu')\n", "torch.load(f, map_location='cpu', weights_only=True)\n"),
        (
            "torch.load(\n    f,\n    map_location='cpu',\n)\n",
            "torch.load(\n    f,\n    map_location='cpu', weights_only=True,\n)\n",
        ),
        ("cp(fn, *xs)\n", "cp(fn, *xs, weights_only=True)\n"),
        ("g()\n", "g(weights_only=True)\n"),
        ("g((x for x in y))\n", "g((x for x in y), weights_only=True)\n"),
        ("g(a, **kw)\n", "g(a, **kw, weights_only=True)\n"),
    ],
)
def test_added_after_the_last_argument(before, after):
    src = parse("a.py", before)
    call = src.tree.body[0].value
    edit = add_keyword(src, call, "weights_only=True")
    fixed = apply_edits(before, [edit])
    assert fixed == after
    ast.parse(fixed)


def test_no_edit_for_a_bare_generator_argument():
    src = parse("a.py", "g(x for x in y)\n")
    assert add_keyword(src, src.tree.body[0].value, "k=1") is None

"""Caches keyed by node: what `reparse` keeps of a statement, and what goes with a node."""

from __future__ import annotations

import ast
import gc

from torchlint.analysis.facts import Facts
from torchlint.analysis.incremental import statement_names
from torchlint.analysis.resolve import SemanticModel, statement_index, subtree
from torchlint.analysis.source import parse, reparse

TEXT = "import torch\n\n\ndef f(x):\n    return x + 1\n\n\ndef g(y):\n    return f(y)\n"


def test_reparse_hands_on_the_facts_of_the_statements_it_keeps():
    first = parse("t.py", TEXT)
    SemanticModel(first)  # indexes every statement
    f_def, g_def = first.tree.body[1], first.tree.body[2]
    index = statement_index(first, f_def)
    names = statement_names(first, f_def)
    second = reparse(first, "t.py", TEXT.replace("return f(y)", "return f(y) * 2"))
    assert second.tree.body[1] is f_def  # untouched: the same node, and its facts
    assert statement_index(second, f_def) is index
    assert statement_names(second, f_def) is names
    assert second.tree.body[2] is not g_def  # re-parsed: nothing kept for it
    assert g_def not in second.facts


def test_subtree_is_ast_walk_order():
    tree = ast.parse(TEXT)
    for node in ast.walk(tree):
        assert subtree(node) == list(ast.walk(node))


def test_facts_go_with_their_node():
    calls = []
    count = Facts(lambda node: calls.append(node) or len(list(ast.walk(node))))
    node = ast.parse("x = [1, 2, 3]").body[0]
    assert count(node) == count(node) == 8
    assert len(calls) == 1
    del node, calls[:]
    gc.collect()
    assert len(count._known) == 0

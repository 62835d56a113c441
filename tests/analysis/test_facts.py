"""Caches keyed by node: what `reparse` keeps of a statement, and what goes with a node."""

from __future__ import annotations

import ast
import gc
from pathlib import Path

from torchlint.analysis import resolve
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


def test_walks_through_the_index_are_the_walks_that_read_the_fields():
    # SemanticModel.walk_scope / subtree list children from each statement's index (kept
    # across re-parses): the same nodes, in the same order, as reading every node's fields
    root = Path(__file__).resolve().parents[2]
    texts = [p.read_text() for p in sorted((root / "examples").glob("*.py"))]
    source = parse("t.py", texts[0])
    for text in [*texts, texts[0].replace("model.train()", "model.train()\n    x = [lambda y: y + 1]")]:
        source = reparse(source, "t.py", text)  # a kept statement's index is the earlier parse's
        model = SemanticModel(source)
        for node in model.nodes:
            assert model.subtree(node) == list(ast.walk(node))
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                assert model.walk_scope(node) == resolve._scope_nodes(node)


def test_facts_go_with_their_node():
    calls = []
    count = Facts(lambda node: calls.append(node) or len(list(ast.walk(node))))
    node = ast.parse("x = [1, 2, 3]").body[0]
    assert count(node) == count(node) == 8
    assert len(calls) == 1
    del node, calls[:]
    gc.collect()
    assert len(count._known) == 0


def test_the_index_merged_from_statements_is_ast_walk_order():
    root = Path(__file__).parents[1] / "fixtures" / "rules"
    for path in sorted(root.rglob("*.py"))[:80]:
        source = parse(str(path), path.read_text())
        model = SemanticModel(source)
        walked = list(ast.walk(source.tree))
        assert model.nodes == walked, path
        for t in {type(n) for n in walked}:
            assert model.nodes_of(t) == [n for n in walked if type(n) is t], (path, t)
        defs = [n for n in walked if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        assert model.scopes == [source.tree, *defs], path

"""Jedi is asked only what the AST and the environment's directories cannot answer, and each
question once: the answers it would give are given without starting it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from torchlint.analysis import jedi_bridge
from torchlint.analysis.workspace import Workspace


@pytest.fixture
def asked(monkeypatch) -> list[str]:
    """The files Jedi is asked about (it answers nothing)."""
    calls: list[str] = []
    monkeypatch.setattr(
        jedi_bridge.JediBridge, "_goto", lambda self, model, node: calls.append(model.source.path) or []
    )
    return calls


def _model(ws: Workspace, path: Path, text: str):
    path.write_text(text)
    ws.begin(str(path))
    return ws.model_for_text(str(path), text)


def _base(model, cls: str = "Meter") -> ast.expr:
    return model.classes[cls].bases[0]


def test_object_is_builtins_object_unless_the_file_binds_it(tmp_path, asked):
    ws = Workspace(tmp_path)
    model = _model(ws, tmp_path / "a.py", "import torch\n\nclass Meter(object):\n    pass\n")
    assert ws.jedi_base_qualnames(model, _base(model)) == {"builtins.object"}
    assert asked == []
    rebinds = _model(ws, tmp_path / "b.py", "object = dict\n\nclass Meter(object):\n    pass\n")
    ws.jedi_base_qualnames(rebinds, _base(rebinds))
    assert asked == [str(tmp_path / "b.py")]


def test_without_jedi_object_stays_unknown(tmp_path, asked):
    ws = Workspace(tmp_path, use_jedi=False)
    model = _model(ws, tmp_path / "a.py", "class Meter(object):\n    pass\n")
    assert ws.jedi_base_qualnames(model, _base(model)) == set()


def test_other_builtins_are_asked_once_per_run(tmp_path, asked):
    ws = Workspace(tmp_path)
    for name in ("a.py", "b.py"):
        model = _model(ws, tmp_path / name, "class Meter(Exception):\n    pass\n")
        ws.jedi_base_qualnames(model, _base(model))
    assert asked == [str(tmp_path / "a.py")]


def test_a_package_found_nowhere_is_not_asked_about(tmp_path, asked):
    ws = Workspace(tmp_path)
    text = "from nosuchpkg_tl import Tokenizer\n\ntok = Tokenizer()\n"
    model = _model(ws, tmp_path / "a.py", text)
    call = model.tree.body[1].value
    assert ws.jedi_class(model, call.func, "nosuchpkg_tl.Tokenizer") is None
    assert asked == []


@pytest.mark.parametrize(
    "entry", ["nosuchpkg_tl.cpython-311-x86_64-linux-gnu.so", "nosuchpkg_tl-stubs", "nosuchpkg_tl"]
)
def test_anything_of_that_name_where_jedi_looks_is_asked_about(tmp_path, asked, entry):
    (tmp_path / entry).mkdir()
    ws = Workspace(tmp_path)
    model = _model(ws, tmp_path / "a.py", "from nosuchpkg_tl import Tokenizer\n\ntok = Tokenizer()\n")
    ws.jedi_class(model, model.tree.body[1].value.func, "nosuchpkg_tl.Tokenizer")
    assert asked == [str(tmp_path / "a.py")]


def test_another_interpreter_is_always_asked(tmp_path, asked):
    ws = Workspace(tmp_path, interpreter="/nonexistent/python")
    model = _model(ws, tmp_path / "a.py", "from nosuchpkg_tl import Tokenizer\n\ntok = Tokenizer()\n")
    ws.jedi_class(model, model.tree.body[1].value.func, "nosuchpkg_tl.Tokenizer")
    assert asked == [str(tmp_path / "a.py")]


class _Name:
    """What Jedi's goto answers: a definition's kind, file and name."""

    def __init__(self, type_: str, path: Path, name: str):
        self.type, self.module_path, self.name, self.full_name = type_, path, name, None


def test_an_answer_given_once_is_read_again_by_every_file_that_asks(tmp_path, monkeypatch):
    (tmp_path / "weird").mkdir()  # where Jedi may look: it is asked
    helpers = tmp_path / "lib" / "helpers_x.py"
    helpers.parent.mkdir()
    helpers.write_text("def fit(model):\n    model.train()\n")
    calls: list[str] = []

    def goto(self, model, node):
        calls.append(model.source.path)
        return [_Name("function", helpers, "fit")]

    monkeypatch.setattr(jedi_bridge.JediBridge, "_goto", goto)
    ws = Workspace(tmp_path)
    refs = []
    for name in ("a.py", "b.py"):
        model = _model(ws, tmp_path / name, "from weird.path import fit\n\nfit(net)\n")
        refs.append(ws.find_function("weird.path.fit", model))
        assert str(helpers) in ws.reads(str(tmp_path / name))
    assert calls == [str(tmp_path / "a.py")]
    assert refs[0] is not None and refs[1] is not None and refs[0].node is refs[1].node

    helpers.write_text("import torch\n\n\ndef fit(model):\n    model.eval()\n")
    model = _model(ws, tmp_path / "c.py", "from weird.path import fit\n\nfit(net)\n")
    ref = ws.find_function("weird.path.fit", model)
    assert ref is not None and ref.node is not refs[0].node  # the file's model now


def _project(root: Path) -> None:
    """A package with a test tree that mirrors it (`tests/` and `tests/pkg/` are packages too,
    as in pytorch/ignite)."""
    for d in ("pkg/engine", "tests/pkg/engine"):
        (root / d).mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "engine" / "__init__.py").write_text(
        "from pkg.engine.events import Events\nfrom pkg.engine.engine import Engine\n"
    )
    (root / "pkg" / "engine" / "events.py").write_text(
        "import enum\n\n\nclass Events(enum.Enum):\n    EPOCH_COMPLETED = 'epoch_completed'\n"
    )
    (root / "pkg" / "engine" / "engine.py").write_text("class Engine:\n    def run(self, data):\n        pass\n")
    for d in ("tests", "tests/pkg", "tests/pkg/engine"):
        (root / d / "__init__.py").write_text("")


def test_a_test_tree_that_mirrors_the_package_does_not_shadow_it(tmp_path, asked):
    # `tests/pkg/` is `tests.pkg` (tests/ is a package): `import pkg` from a test finds the
    # project's own pkg/, as pytest's sys.path does
    _project(tmp_path)
    ws = Workspace(tmp_path)
    test = _model(ws, tmp_path / "tests" / "pkg" / "engine" / "test_engine.py", "from pkg.engine import Engine\n")
    assert ws.find_module("pkg.engine", test) == tmp_path / "pkg" / "engine" / "__init__.py"
    info = ws.find_class("pkg.engine.Engine", test)
    assert info is not None and info.model.source.path.endswith("engine.py")
    assert asked == []


def test_what_a_workspace_module_defines_is_not_asked_of_jedi(tmp_path, asked):
    # `Events.EPOCH_COMPLETED(every=2)` names a member of a workspace class: the AST has said all
    # there is (it is no class), and Jedi would read the same files to say the same
    _project(tmp_path)
    ws = Workspace(tmp_path)
    text = "from pkg.engine import Events\n\nevery = Events.EPOCH_COMPLETED(every=2)\n"
    model = _model(ws, tmp_path / "train.py", text)
    call = next(n for n in ast.walk(model.tree) if isinstance(n, ast.Call))
    assert model.resolve_class(call.func) is None
    assert asked == []
    # a name a star import may bind is still asked about
    (tmp_path / "pkg" / "star.py").write_text("from elsewhere import *\n")
    star = _model(ws, tmp_path / "uses_star.py", "from pkg.star import Thing\n\nThing()\n")
    call = next(n for n in ast.walk(star.tree) if isinstance(n, ast.Call))
    star.resolve_class(call.func)
    assert asked == [str(tmp_path / "uses_star.py")]


def test_a_function_of_a_package_installed_outside_the_workspace_is_not_looked_for(tmp_path, asked):
    # Jedi is asked for functions only to find the workspace's own (imported through a path the
    # module lookup does not know); pytest's `approx` lives in site-packages: nothing to find
    ws = Workspace(tmp_path)
    model = _model(ws, tmp_path / "test_x.py", "from pytest import approx\n\nassert 1 == approx(1)\n")
    call = next(n for n in ast.walk(model.tree) if isinstance(n, ast.Call))
    assert model.resolve_function(call) is None
    assert asked == []


def test_an_installed_class_is_asked_about_once_whichever_directory_asks(tmp_path, asked):
    # Jedi's sys.path is per directory, but `packaging` (installed, shadowed by no directory of
    # the workspace) is the same package from every one of them
    ws = Workspace(tmp_path)
    text = "from packaging.version import Version\n\nv = Version('1.0')\n"
    for d in ("a", "b/c"):
        (tmp_path / d).mkdir(parents=True)
        model = _model(ws, tmp_path / d / "x.py", text)
        call = next(n for n in ast.walk(model.tree) if isinstance(n, ast.Call))
        model.resolve_class(call.func)
    assert asked == [str(tmp_path / "a" / "x.py")]

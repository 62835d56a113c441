"""What an analysis read is compared by revision (content), not by model identity: opening a
file that another open file read (its model is rebuilt from the same text) leaves the reader's
next edit a partial re-analysis; a change of its text does not."""

from __future__ import annotations

from pathlib import Path

from torchlint.analysis.workspace import Workspace
from torchlint.checker import Checker
from torchlint.config import Config

HELPERS = (
    "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.fc = nn.Linear(2, 2)\n\n    def forward(self, x):\n        return self.fc(x)\n"
)
TRAIN = (
    "import torch\nfrom helpers import Net\n\nmodel = Net()\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
    "for x in range(3):\n    loss = model(x).sum()\n    loss.backward()\n    opt.step()\n"
)


def _files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "helpers.py").write_text(HELPERS)
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path / "train.py", tmp_path / "helpers.py"


def test_a_dependency_rebuilt_from_the_same_text_is_unchanged(tmp_path):
    train, helpers = _files(tmp_path)
    ws = Workspace(tmp_path, use_jedi=False)
    ws.begin(str(train))
    model = ws.model_for_text(str(train), TRAIN, fresh=True)
    assert ws.find_class("helpers.Net", model) is not None
    deps = ws.dependency_models(str(train))
    assert str(helpers) in deps

    # the editor opens helpers.py and analyses it: a new model of the same text
    ws.set_overlay(str(helpers), HELPERS)
    ws.begin(str(helpers))
    ws.model_for_text(str(helpers), HELPERS, fresh=True)

    ws.begin(str(train))
    assert ws.unchanged_since(deps, None)

    ws.set_overlay(str(helpers), HELPERS + "\nx = 1\n")
    ws.begin(str(train))
    assert not ws.unchanged_since(deps, None)


def test_opening_a_file_another_open_file_read_keeps_its_edits_partial(tmp_path):
    train, helpers = _files(tmp_path)
    editor = Checker(Config(), tmp_path, incremental=True)
    editor.workspace.use_jedi = False
    editor.set_overlay(str(train), TRAIN)
    editor.check_file(str(train), TRAIN)
    editor.set_overlay(str(helpers), HELPERS)
    editor.check_file(str(helpers), HELPERS)

    answers: list[bool] = []
    real = editor.workspace.unchanged_since
    editor.workspace.unchanged_since = lambda deps, files: answers.append(real(deps, files)) or answers[-1]  # type: ignore[method-assign]
    edited = TRAIN.replace("lr=0.1", "lr=0.2")
    editor.set_overlay(str(train), edited)
    got = editor.check_file(str(train), edited).findings
    assert answers == [True], "the edit of train.py was analysed in full: helpers.py was taken as changed"

    fresh = Checker(Config(), tmp_path)
    fresh.workspace.use_jedi = False
    assert got == fresh.check_file(str(train), edited).findings


def test_a_dependency_that_read_the_analysed_file_counts_as_changed(tmp_path):
    # helpers.py's answers (its functions' argument kinds, from their callers) may rest on
    # train.py: an edit of train.py can change them though helpers.py's text stays the same
    train, helpers = _files(tmp_path)
    ws = Workspace(tmp_path, use_jedi=False)
    ws.begin(str(train))
    model = ws.model_for_text(str(train), TRAIN, fresh=True)
    ws.find_class("helpers.Net", model)
    deps = ws.dependency_models(str(train))
    ws.begin(str(helpers))
    ws.model_for_path(train)  # helpers.py's analysis reads train.py
    ws.begin(str(train))
    assert not ws.unchanged_since(deps, None)


def test_importers_are_files_that_name_the_module_and_the_function(tmp_path):
    # `evaluate` of helpers.py: a file that calls it names both as identifiers; one that only
    # holds the letters (`helpers_path`, `evaluate_every`) is neither parsed nor read
    (tmp_path / "helpers.py").write_text("def evaluate(model):\n    model.eval()\n")
    (tmp_path / "train.py").write_text("from helpers import evaluate\n\nevaluate(net)\n")
    (tmp_path / "config.py").write_text("helpers_path = 'x'\nevaluate_every = 10\n")
    ws = Workspace(tmp_path)
    ws.begin(str(tmp_path / "helpers.py"))
    model = ws.model_for_text(str(tmp_path / "helpers.py"), (tmp_path / "helpers.py").read_text())
    found = ws.importer_models(model, "evaluate")
    assert [Path(m.source.path).name for m in found] == ["train.py"]
    assert str((tmp_path / "config.py").resolve()) not in ws.reads(str(tmp_path / "helpers.py"))

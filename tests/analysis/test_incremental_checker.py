"""The editor path keeps state between analyses of one document (reused AST nodes, per-statement
indexes, cached results): after every edit of a long chain it must report exactly what a fresh
`Checker` reports on the same text, findings, fixes, related information and training loops alike."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from torchlint.checker import Checker
from torchlint.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_reparse import _edit

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted([*ROOT.glob("examples/*.py"), *ROOT.glob("tests/fixtures/rules/**/*.py")])


def _report(checker: Checker, path: Path, text: str):
    r = checker.check_file(str(path), text)
    return (
        sorted((f.code, f.span, f.message, f.fix, f.related, f.severity) for f in r.findings),
        r.training_loops,
        r.errors,
    )


# Files of several independent parts (fixtures one after the other), where an edit leaves
# most statements alone: the partial re-analysis is what they exercise.
COMPOSITES = [CORPUS[i : i + 6] for i in range(0, len(CORPUS), 6)]


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_edits_analysed_incrementally_match_a_fresh_analysis(path: Path, tmp_path: Path):
    _check_edit_chain(path.read_text(), tmp_path / path.name, "incremental:" + str(path.relative_to(ROOT)))


@pytest.mark.parametrize("parts", COMPOSITES, ids=lambda ps: ps[0].stem + "+%d" % (len(ps) - 1))
def test_edits_of_a_file_of_independent_parts_match_a_fresh_analysis(parts: list[Path], tmp_path: Path):
    text = "\n\n".join(p.read_text() for p in parts)
    _check_edit_chain(text, tmp_path / "composite.py", "composite:" + parts[0].name, steps=40)


def _check_edit_chain(text: str, target: Path, seed: str, steps: int = 25) -> None:
    rng = random.Random(seed)
    tmp_path = target.parent
    target.write_text(text)
    editor = Checker(Config(), tmp_path, incremental=True)
    editor.set_overlay(str(target), text)
    _report(editor, target, text)
    good = text
    for step in range(steps):
        text = "\n".join(_edit(rng, text.split("\n"))) if text == good else good
        editor.set_overlay(str(target), text)
        got = _report(editor, target, text)
        fresh = Checker(Config(), tmp_path)
        fresh.set_overlay(str(target), text)
        expected = _report(fresh, target, text)
        broken = [f for f in expected[0] if f[0] == "syntax-error"]
        if broken:
            # The editor recovers the edited statements alone (the rest keeps its findings while
            # the user types); a fresh analysis recovers the whole file: both say it is broken.
            assert len([f for f in got[0] if f[0] == "syntax-error"]) == 1, f"step {step}"
            continue
        assert got == expected, f"step {step}: the editor's analysis differs from a fresh one"
        good = text


def test_an_edit_of_an_imported_file_reaches_the_kept_findings(tmp_path: Path):
    """The findings an edit leaves alone may rest on another file: when that file changes, the
    next analysis (of any edit) must not keep them."""
    src = ROOT / "tests" / "fixtures" / "rules" / "TL201" / "crossfile"
    for f in src.glob("*.py"):
        (tmp_path / f.name).write_text(f.read_text())
    train, helper = tmp_path / "train.py", tmp_path / "evaluation.py"
    text = train.read_text()
    editor = Checker(Config(), tmp_path, incremental=True)
    editor.set_overlay(str(train), text)
    assert [f.code for f in editor.check_file(str(train), text).findings] == ["TL201"]
    # the helper now restores train mode (edited in the editor, not saved)
    fixed = helper.read_text().replace("    return correct", "    model.train()\n    return correct")
    editor.set_overlay(str(helper), fixed)
    edited = text.replace("lr=1.0", "lr=0.5")  # an edit of `main` alone
    editor.set_overlay(str(train), edited)
    assert editor.check_file(str(train), edited).findings == []
    edited = edited.replace("class Net(nn.Module):", "class Net(nn.Module):  # the model")  # far from `main`
    editor.set_overlay(str(helper), None)  # the helper's edit is dropped: the finding is back
    editor.set_overlay(str(train), edited)
    assert [f.code for f in editor.check_file(str(train), edited).findings] == ["TL201"]


CROSS_FILE = sorted(p for p in (ROOT / "tests" / "fixtures" / "rules").glob("*/*") if p.is_dir())


@pytest.mark.parametrize("workspace", CROSS_FILE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_edits_across_files_match_a_fresh_analysis(workspace: Path, tmp_path: Path):
    """Several open files, each edited in turn; every file's analysis must match a fresh one
    (summaries of other files' functions are kept between analyses while those files stay)."""
    rng = random.Random("cross:" + workspace.name)
    texts = {tmp_path / f.name: f.read_text() for f in workspace.glob("*.py")}
    for path, text in texts.items():
        path.write_text(text)
    editor = Checker(Config(), tmp_path, incremental=True)
    for path, text in texts.items():
        editor.set_overlay(str(path), text)
    good = dict(texts)
    for step in range(30):
        path = rng.choice(sorted(texts))
        texts[path] = "\n".join(_edit(rng, texts[path].split("\n"))) if texts[path] == good[path] else good[path]
        editor.set_overlay(str(path), texts[path])
        fresh = Checker(Config(), tmp_path)
        for p, t in texts.items():
            fresh.set_overlay(str(p), t)
        reports = {p: (_report(editor, p, texts[p]), _report(fresh, p, texts[p])) for p in sorted(texts)}
        if any(f[0] == "syntax-error" for _, expected in reports.values() for f in expected[0]):
            continue  # recovered differently (see above), and so may be what other files read of it
        for p, (got, expected) in reports.items():
            assert got == expected, f"step {step}: {p.name} differs from a fresh analysis"
        good[path] = texts[path]


def _same_as_fresh_along(texts: list[str], target: Path) -> None:
    editor = Checker(Config(), target.parent, incremental=True)
    for step, text in enumerate(texts):
        target.write_text(text)
        editor.set_overlay(str(target), text)
        got = _report(editor, target, text)
        fresh = Checker(Config(), target.parent)
        fresh.set_overlay(str(target), text)
        assert got == _report(fresh, target, text), f"edit {step}"


HELPER_STEPS = (ROOT / "tests" / "fixtures" / "rules" / "TL108" / "scheduler_first_helper_steps.py").read_text()


def test_a_line_added_after_a_statement_moves_no_fix_that_inserts_there(tmp_path: Path):
    """TL108's fix inserts `scheduler.step()` on the line after the loop; a comment typed on that
    line leaves the function's text alone, but only a new analysis knows on which side of it the
    insertion goes."""
    after_loop = "        optimizer.step()\n\n\ndef run("
    assert after_loop in HELPER_STEPS
    edited = HELPER_STEPS.replace(after_loop, "        optimizer.step()\n# a comment\n\n\ndef run(")
    _same_as_fresh_along([HELPER_STEPS, edited], tmp_path / "train.py")


def test_a_function_whose_only_caller_stops_calling_it_is_analysed_again(tmp_path: Path):
    """`train_epoch`'s scheduler is known to be PyTorch's from its one call; the edit of the caller
    leaves `train_epoch`'s text alone, yet removes what its finding rested on."""
    call = "    train_epoch(model, loader, optimizer, torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.9))\n"
    assert call in HELPER_STEPS
    _same_as_fresh_along([HELPER_STEPS, HELPER_STEPS.replace(call, "")], tmp_path / "train.py")


WHOLE_FILE = """import torch
import torch.nn as nn
from torchvision import datasets, transforms


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))


def reconstruction(decoder, z, images):
    return nn.BCELoss()(torch.sigmoid(decoder(z)), images)


def sample(decoder, count):
    z = torch.randn(count, 16)
    with torch.no_grad():
        images = decoder(z)
    return images.clamp(0, 1)


def describe(images):
    mean = images.mean()
    std = images.std()
    low = images.min()
    high = images.max()
    return f"{mean:.3f} {std:.3f} {low:.3f} {high:.3f}"


train_set = datasets.MNIST("data", train=True, transform=transforms.ToTensor())
model = Net()
loss = nn.CrossEntropyLoss()(model(train_set[0][0]), torch.tensor([train_set[0][1]]))
"""


def test_rules_judging_the_whole_file_see_it_after_a_partial_edit(tmp_path: Path):
    """TL502 stays quiet in a file that also computes a BCE loss (its images may be targets):
    an edit of `Net` re-analyses the statements linked to it, not `reconstruction`."""
    edited = WHOLE_FILE.replace("    def forward(self, x):\n", "    def forward(self, x):\n        print(x)\n")
    _same_as_fresh_along([WHOLE_FILE, edited], tmp_path / "train.py")

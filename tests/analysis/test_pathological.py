"""Pathological code (thousands of branches, long elif chains, many try blocks, deep nesting)
is analysed in time linear in its size, and a function beyond the analysis budget gets one
TL001 note instead of its flow checks, while the rest of the file is analysed as usual.

Only deterministic quantities are asserted (steps of flow work, findings); how long it takes
is measured by `bench/pathological.py`, not here."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from torchlint import pipeline
from torchlint.analysis import cfg
from torchlint.analysis.cfg import FUNCTION_BUDGET
from torchlint.analysis.context import FileContext
from torchlint.analysis.flow import _SubstringFinder
from torchlint.analysis.workspace import Workspace
from torchlint.checker import Checker
from torchlint.config import Config
from torchlint.rules import all_rules

ROOT = Path(__file__).resolve().parents[2]

HEAD = """import torch
import torch.nn as nn


"""

# one statement (or two) per branch, cycling through what a training step does
_BRANCHES = [
    ["out = model(x)"],
    ["model.eval()", "model.train()"],
    ["opt.zero_grad()", "out = model(x)"],
    ["out = out * 2"],
]


_STEPS = [
    "loss.backward()",
    "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)",
    "opt.step()",
    "opt.zero_grad()",
    "model.eval()",
    "out = model(x)",
]


def _indent(lines: list[str], ind: str) -> list[str]:
    return [ind + s for s in lines]


def body(kind: str, n: int, ind: str) -> list[str]:
    """`n` generated blocks of `kind` at indentation `ind`."""
    out: list[str] = []
    for k in range(n):
        branch = _BRANCHES[k % len(_BRANCHES)]
        inner = ind + "    "
        if kind == "if_else":
            out += [f"{ind}if i == {k}:", *_indent(branch, inner), f"{ind}else:", f"{inner}out = out + {k}"]
        elif kind == "elif":
            out += [f"{ind}{'if' if k == 0 else 'elif'} i == {k}:", *_indent(branch, inner)]
        elif kind == "try_finally":
            out += [f"{ind}try:", *_indent(branch, inner), f"{ind}finally:", f"{inner}out = out + {k}"]
        elif kind == "try_except":
            out += [f"{ind}try:", *_indent(branch, inner), f"{ind}except ValueError:", f"{inner}out = out + {k}"]
        elif kind == "small_loops":
            out += [f"{ind}for j in range({k}):", *_indent(branch, inner)]
        elif kind == "straight":
            out += _indent(branch, ind)
        elif kind == "steps":  # every branch a piece of a training step: many backward, step, clip nodes
            step = _STEPS[k % len(_STEPS)]
            out += [f"{ind}if i == {k}:", f"{inner}{step}", f"{ind}else:", f"{inner}out = out + {k}"]
        elif kind == "compact":  # two lines a branch: many branches in few characters
            out += [f"{ind}if i == {k}: out = model(x)", f"{ind}else: out = out + 1"]
        else:
            raise ValueError(kind)
    if kind == "elif":
        out += [f"{ind}else:", f"{ind}    out = out + 1"]
    return out


def train_function(kind: str, n: int, name: str = "train") -> str:
    """A training loop whose body holds `n` generated blocks of `kind`."""
    lines = [
        f"def {name}(model, loader, opt, criterion):",
        "    model.train()",
        "    for i, (x, y) in enumerate(loader):",
        "        opt.zero_grad()",
        "        out = model(x)",
        *body(kind, n, "        "),
        "        loss = criterion(out, y)",
        "        loss.backward()",
        "        opt.step()",
    ]
    return "\n".join(lines) + "\n"


def nested(kind: str, depth: int) -> str:
    """`depth` nested `with` (or `if`) blocks inside a training loop."""
    lines = ["def train(model, loader, opt, criterion):", "    for i, (x, y) in enumerate(loader):"]
    ind = "        "
    for k in range(depth):
        lines.append(f"{ind}{'with ctx' if kind == 'with' else 'if i > '}{k}:")
        lines.append(f"{ind}    out = model(x)")
        ind += "    "
    lines += [f"{ind}loss = criterion(out, y)", f"{ind}loss.backward()", f"{ind}opt.step()", f"{ind}opt.zero_grad()"]
    return "\n".join(lines) + "\n"


def module_level(kind: str, n: int) -> str:
    lines = ["for i, (x, y) in enumerate(loader):", "    opt.zero_grad()", "    out = model(x)", *body(kind, n, "    ")]
    lines += ["    loss = criterion(out, y)", "    loss.backward()", "    opt.step()"]
    return "\n".join(lines) + "\n"


def flow_steps(tmp_path: Path, text: str) -> int:
    """The flow work of analysing `text` with every rule (no budget): a count, not a time."""
    ws = Workspace(tmp_path)
    model = ws.model_for_text(str(tmp_path / "t.py"), text, fresh=True)
    ctx = FileContext(model.source, model, ws, exhausted={})
    for rule in all_rules():
        list(rule().check(ctx))
    ctx.flow.training_loops()
    assert not ctx.flow.exhausted()
    return ctx.flow.steps()


def check(tmp_path: Path, text: str, incremental: bool = False, config: Config | None = None):
    path = tmp_path / "t.py"
    path.write_text(text)
    checker = Checker(config or Config(), tmp_path, incremental=incremental)
    return checker.check_file(str(path), text)


def _key(report):
    return (
        sorted((f.code, f.span, f.message, f.fix, f.related) for f in report.findings),
        report.training_loops,
        report.errors,
    )


@pytest.fixture
def unlimited(monkeypatch):
    monkeypatch.setattr(cfg, "FUNCTION_BUDGET", 10**9)


# -- the work grows linearly ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["if_else", "elif", "try_finally", "try_except", "small_loops", "straight", "steps"])
def test_flow_work_grows_linearly_with_the_branches(kind, tmp_path, unlimited):
    small = flow_steps(tmp_path, HEAD + train_function(kind, 500))
    large = flow_steps(tmp_path, HEAD + train_function(kind, 1000))
    assert large / small < 2.5, (small, large)
    assert large < 60 * 1000  # a few dozen steps a branch, whatever the kind


def test_flow_work_of_module_level_code_grows_linearly(tmp_path, unlimited):
    small = flow_steps(tmp_path, HEAD + module_level("if_else", 500))
    large = flow_steps(tmp_path, HEAD + module_level("if_else", 1000))
    assert large / small < 2.5, (small, large)


@pytest.mark.parametrize("kind", ["with", "if"])
def test_flow_work_grows_linearly_with_the_nesting(kind, tmp_path, unlimited):
    # Python's parser stops at 100 levels of indentation
    small = flow_steps(tmp_path, HEAD + nested(kind, 40))
    large = flow_steps(tmp_path, HEAD + nested(kind, 80))
    assert large / small < 2.5, (small, large)


# -- pathological inputs complete, with the real budget --------------------------------


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "kind,n", [("if_else", 3000), ("elif", 2500), ("try_finally", 1000), ("try_except", 1000), ("small_loops", 3000)]
)
def test_pathological_functions_complete_on_both_paths(kind, n, tmp_path):
    text = HEAD + train_function(kind, n)
    cli = check(tmp_path, text)
    assert not cli.errors
    assert [f for f in cli.findings if f.code == "TL001"] == []  # within the budget: analysed
    if kind in ("try_finally", "try_except"):
        # each model.eval() may be the last thing a try body runs: the leak is found
        assert "TL201" in {f.code for f in cli.findings}
    editor = check(tmp_path, text, incremental=True)
    assert _key(editor) == _key(cli)


def test_deep_nesting_completes(tmp_path):
    for kind in ("with", "if"):
        report = check(tmp_path, HEAD + nested(kind, 95))
        assert not report.errors
        assert [f.code for f in report.findings] == []


# -- the budget ------------------------------------------------------------------------

SMALL_BUDGET = 20_000  # tests of the budget use a small one: same code paths, less time

BIG = "train_big"
SMALL_BUGGY = """

def train_small(model, loader, opt, criterion):
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
"""


def _over_budget_file(branches: int, small: str = SMALL_BUGGY) -> str:
    big = train_function("if_else", branches, BIG)
    # a finding that needs no flow analysis, inside the function left out
    big = big.replace("    model.train()\n", "    model.train\n    model.train()\n", 1)
    # and one the flow analysis finds (TL201: eval mode left on for the next step)
    big = big.replace(
        "        loss = criterion(out, y)\n",
        "        if i < 0:\n            model.eval()\n        loss = criterion(out, y)\n",
        1,
    )
    return HEAD + big + small


def _def_line(text: str, name: str) -> int:
    return next(i for i, line in enumerate(text.split("\n")) if line.startswith(f"def {name}("))


@pytest.mark.parametrize("branches,restarts", [(1000, 1), (3000, 0)], ids=["while-asked", "while-built"])
def test_a_function_over_budget_gets_one_note_and_the_rest_is_analysed(branches, restarts, tmp_path, monkeypatch):
    """Out of budget while a rule asks about it (the analysis starts again without it), or
    already while its graph is built (left out on the spot): the same answer."""
    monkeypatch.setattr(cfg, "FUNCTION_BUDGET", SMALL_BUDGET)
    runs = []
    once = pipeline._run_rules_once
    monkeypatch.setattr(pipeline, "_run_rules_once", lambda *a: runs.append(1) or once(*a))
    text = _over_budget_file(branches)
    report = check(tmp_path, text)
    assert len(runs) == 1 + restarts
    notes = [f for f in report.findings if f.code == "TL001"]
    assert len(notes) == 1, notes
    note = notes[0]
    line = _def_line(text, BIG)
    assert (note.span.start.line, note.span.start.column) == (line, 0)
    assert (note.span.end.line, note.span.end.column) == (line, len(f"def {BIG}"))
    assert note.message == (
        f"not analysed: `{BIG}` has too many branches to analyse (budget of {SMALL_BUDGET:,} steps exhausted); "
        "its training-loop checks were skipped"
    )
    codes = {f.code for f in report.findings}
    assert "TL101" in codes  # train_small, analysed as usual
    assert "TL204" in codes  # inside train_big, found without flow analysis
    big_lines = range(line, _def_line(text, "train_small"))
    flow_codes = {"TL101", "TL102", "TL104", "TL201", "TL202", "TL203"}
    assert not [f for f in report.findings if f.code in flow_codes and f.span.start.line in big_lines]
    assert not report.errors
    # with the budget it needs, the same function has flow findings (they were skipped above)
    monkeypatch.setattr(cfg, "FUNCTION_BUDGET", 10**9)
    full = check(tmp_path, text)
    assert "TL001" not in {f.code for f in full.findings}
    assert [f for f in full.findings if f.code == "TL201" and f.span.start.line in big_lines]


def test_a_noqa_comment_does_not_hide_the_note(tmp_path, monkeypatch):
    """TL001 says the function went unread, not that its line is wrong: only `ignore` hides it."""
    monkeypatch.setattr(cfg, "FUNCTION_BUDGET", SMALL_BUDGET)
    lines = _over_budget_file(3000).split("\n")
    lines[_def_line("\n".join(lines), BIG)] += "  # noqa: TL001"
    report = check(tmp_path, "\n".join(lines))
    assert [f.code for f in report.findings if f.code == "TL001"] == ["TL001"]
    ignored = check(tmp_path, "\n".join(lines), config=Config(ignore=("TL001",)))
    assert "TL001" not in {f.code for f in ignored.findings}


@pytest.mark.timeout(240)
def test_twenty_thousand_branches_are_left_out_with_the_real_budget(tmp_path, monkeypatch):
    runs = []
    once = pipeline._run_rules_once
    monkeypatch.setattr(pipeline, "_run_rules_once", lambda *a: runs.append(1) or once(*a))
    text = HEAD + train_function("compact", 20_000, BIG) + SMALL_BUGGY
    report = check(tmp_path, text)
    assert len(runs) == 1  # given up while its graph was built: before any call was resolved
    notes = [f for f in report.findings if f.code == "TL001"]
    assert [n.span.start.line for n in notes] == [_def_line(text, BIG)]
    assert f"budget of {FUNCTION_BUDGET:,} steps" in notes[0].message
    assert "TL101" in {f.code for f in report.findings}


def test_module_level_code_over_budget_gets_one_note_at_its_first_statement(tmp_path, monkeypatch):
    monkeypatch.setattr(cfg, "FUNCTION_BUDGET", SMALL_BUDGET)
    text = (
        HEAD
        + "from torch.utils.data import DataLoader\n\n"
        + SMALL_BUGGY.lstrip("\n")
        + "\n\n"
        + module_level("if_else", 1000)
    )
    report = check(tmp_path, text)
    notes = [f for f in report.findings if f.code == "TL001"]
    assert len(notes) == 1, notes
    first = next(i for i, line in enumerate(text.split("\n")) if line.startswith("for i, (x, y)"))
    assert notes[0].span.start.line == first
    assert "the module-level code has too many branches" in notes[0].message
    assert "TL101" in {f.code for f in report.findings}  # train_small


def test_the_note_is_shown_whatever_select_says(tmp_path, monkeypatch):
    monkeypatch.setattr(cfg, "FUNCTION_BUDGET", SMALL_BUDGET)
    # over budget already while its graph is built (with fewer branches, whether the rules
    # selected ask for more than the budget depends on which they are)
    text = _over_budget_file(3000)
    report = check(tmp_path, text, config=Config(select=("TL101",)))
    assert sorted(f.code for f in report.findings) == ["TL001", "TL101"]
    report = check(tmp_path, text, config=Config(ignore=("TL001",)))
    assert "TL001" not in {f.code for f in report.findings}


def test_real_training_code_is_far_within_the_budget(tmp_path):
    """The examples, and a generated function of a thousand lines in the shape of a real
    `main` (nested ifs, a few loops, try blocks): no note, and a small share of the budget."""
    for path in sorted(ROOT.glob("examples/*.py")):
        report = check(tmp_path, path.read_text())
        assert "TL001" not in {f.code for f in report.findings}, path
        assert flow_steps(tmp_path, path.read_text()) < FUNCTION_BUDGET // 10, path
    text = HEAD + _realistic_main(1000)
    assert len(text.split("\n")) > 1000
    assert flow_steps(tmp_path, text) < FUNCTION_BUDGET // 5
    assert "TL001" not in {f.code for f in check(tmp_path, text).findings}


def _realistic_main(lines: int) -> str:
    rng = random.Random(0)
    out = ["def main(args, model, ema, loader, val_loader, opt, sched, scaler, criterion):"]
    simple = [
        "x = x.cuda()",
        "out = model(x)",
        "loss = criterion(out, y)",
        "logger.info('epoch %d', epoch)",
        "opt.zero_grad()",
        "scaler.scale(loss).backward()",
        "scaler.step(opt)",
        "scaler.update()",
        "ema.update(model)",
        "sched.step()",
        "metrics = {'loss': loss.item()}",
        "torch.save(model.state_dict(), path)",
    ]

    def block(ind: str, depth: int) -> None:
        for _ in range(rng.randint(3, 8)):
            r = rng.random()
            if depth < 4 and r < 0.2:
                out.append(f"{ind}if args.flag{rng.randint(0, 50)}:")
                block(ind + "    ", depth + 1)
                if rng.random() < 0.5:
                    out.append(f"{ind}else:")
                    block(ind + "    ", depth + 1)
            elif depth < 3 and r < 0.27:
                out.append(f"{ind}for x, y in loader:")
                block(ind + "    ", depth + 1)
            elif depth < 4 and r < 0.32:
                out.append(f"{ind}try:")
                block(ind + "    ", depth + 1)
                out.append(f"{ind}except Exception:")
                out.append(f"{ind}    logger.exception('failed')")
            else:
                out.append(ind + rng.choice(simple))

    while len(out) < lines:
        out.append("    for epoch in range(args.epochs):")
        out.append("        model.train()")
        block("        ", 1)
    return "\n".join(out) + "\n"


# -- the editor path -------------------------------------------------------------------


def test_the_note_survives_the_incremental_path(tmp_path, monkeypatch):
    """Edits elsewhere keep the note (moved with its function), an edit that shrinks the
    function drops it: each time what a fresh analysis says."""
    monkeypatch.setattr(cfg, "FUNCTION_BUDGET", SMALL_BUDGET)
    path = tmp_path / "t.py"
    editor = Checker(Config(), tmp_path, incremental=True)
    edited_small = SMALL_BUGGY.replace("loss.backward()", "(loss * 2).backward()")
    texts = [
        _over_budget_file(1000),
        "# a comment above everything: every line moves\n" + _over_budget_file(1000),
        "# a comment above everything: every line moves\n" + _over_budget_file(1000, edited_small),
        "# a comment above everything: every line moves\n" + _over_budget_file(10, edited_small),
        "# a comment above everything: every line moves\n" + _over_budget_file(1000, edited_small),
    ]
    plans = []
    make_plan = pipeline.incremental_plan
    monkeypatch.setattr(pipeline, "incremental_plan", lambda *a: plans.append(make_plan(*a)) or plans[-1])
    notes = []
    partial = []
    for text in texts:
        path.write_text(text)
        editor.set_overlay(str(path), text)
        plans.clear()
        got = editor.check_file(str(path), text)
        partial.append(bool(plans) and plans[-1] is not None)
        fresh = Checker(Config(), tmp_path)
        fresh.set_overlay(str(path), text)
        assert _key(got) == _key(fresh.check_file(str(path), text))
        notes.append([f.span.start.line for f in got.findings if f.code == "TL001"])
    line = _def_line(texts[0], BIG)
    assert notes == [[line], [line + 1], [line + 1], [], [line + 1]]
    assert partial[2]  # train_small alone analysed again: train_big's note was kept and moved


# -- the word search that picks the functions to build graphs for --------------------------


def test_the_substring_finder_answers_as_a_search_per_word():
    rng = random.Random(3)
    alphabet = "ab_c.1 \n(é"
    for _ in range(2000):
        words = tuple(
            {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(17, 40))}
        )
        finder = _SubstringFinder(words)
        for _ in range(4):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
            assert finder.found(text) == any(w in text for w in words), (words, text)

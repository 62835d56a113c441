"""`torchlint check -j`: how many worker processes, which files go together, and the same
output whatever the number of processes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from torchlint.checker import Checker
from torchlint.cli import main
from torchlint.commands import jobs

HELPERS = textwrap.dedent("""\
    import torch


    def evaluate(model, loader):
        model.eval()
        with torch.no_grad():
            return sum(model(x).sum().item() for x, _ in loader)
""")
TRAIN = textwrap.dedent("""\
    import torch
    import torch.nn as nn
    from helpers import evaluate

    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(3):
        model.train()
        for x, y in train_loader:
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            evaluate(model, test_loader)
""")


@pytest.fixture
def idle_machine(monkeypatch):
    """Two CPUs, nothing else running, and any amount of work worth a worker."""
    monkeypatch.setattr(jobs, "_usable_cpus", lambda: 2)
    monkeypatch.setattr(jobs, "_load", lambda: 0.0)
    monkeypatch.setattr(jobs, "MIN_BYTES_PER_JOB", 1)


def test_the_default_is_one_process_per_idle_cpu(monkeypatch):
    monkeypatch.setattr(jobs, "_usable_cpus", lambda: 4)
    big = 100 * jobs.MIN_BYTES_PER_JOB
    monkeypatch.setattr(jobs, "_load", lambda: 0.2)
    assert jobs.choose_jobs(None, big, 50) == 4
    assert jobs.choose_jobs(2, big, 50) == 2
    assert jobs.choose_jobs(16, big, 50) == 4  # never more processes than CPUs
    monkeypatch.setattr(jobs, "_load", lambda: 2.6)  # other programs keep 2.6 CPUs busy
    assert jobs.choose_jobs(None, big, 50) == 2
    monkeypatch.setattr(jobs, "_load", lambda: 3.5)
    assert jobs.choose_jobs(None, big, 50) == 1
    assert jobs.choose_jobs(4, big, 50) == 1
    monkeypatch.setattr(jobs, "_load", lambda: 9.0)  # a busy machine: workers would only take turns
    assert jobs.choose_jobs(2, big, 50) == 1


@pytest.mark.parametrize(
    ("loadavg", "busy"),
    [
        ("1.90 0.90 0.68 1/82 11976", 0.0),  # the last minute was busy (this program's last run): idle now
        ("1.90 0.90 0.68 3/82 11976", 1.9),  # two others running now: the average says how much
        ("0.30 0.90 0.68 4/82 11976", 0.3),  # a burst of short-lived processes: the average
        ("2.50 2.40 2.30 3/82 11976", 2.0),
    ],
)
def test_other_programs_load_is_the_average_capped_by_what_runs_now(tmp_path, loadavg, busy):
    f = tmp_path / "loadavg"
    f.write_text(loadavg + "\n")
    assert jobs._load(str(f)) == busy


def test_little_work_stays_in_one_process(monkeypatch):
    monkeypatch.setattr(jobs, "_usable_cpus", lambda: 4)
    monkeypatch.setattr(jobs, "_load", lambda: 0.0)
    assert jobs.choose_jobs(4, jobs.MIN_BYTES_PER_JOB - 1, 50) == 1
    assert jobs.choose_jobs(4, 3 * jobs.MIN_BYTES_PER_JOB, 50) == 3
    assert jobs.choose_jobs(4, 100 * jobs.MIN_BYTES_PER_JOB, 2) == 2  # one worker per unit at most


def test_files_of_one_directory_go_together_largest_units_first():
    files = [Path("a/x.py"), Path("b/y.py"), Path("a/z.py"), Path("c/w.py")]
    sizes = [10, 100, 20, 5]
    assert jobs.plan_units(files, sizes, 2) == [[1], [0, 2], [3]]
    # a directory larger than a worker's share is split: parallel work matters more then
    files = [Path(f"big/{i}.py") for i in range(6)] + [Path("small/s.py")]
    units = jobs.plan_units(files, [10] * 7, 2)
    assert sorted(i for u in units for i in u) == list(range(7))
    assert len(units) > 2 and all(sum(10 for _ in u) <= 20 for u in units)


def _project(root: Path) -> Path:
    for d in ("one", "two", "three"):
        (root / d).mkdir()
        (root / d / "helpers.py").write_text(HELPERS)
        (root / d / "train.py").write_text(TRAIN)
    (root / "three" / "broken.py").write_text("import torch\ndef f(:\n")
    (root / "three" / "data.py").write_bytes(b"import torch\n\xff\xfe\x00garbage\n")
    return root


def _check(root: Path, capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["check", str(root), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_the_output_is_the_same_whatever_the_number_of_processes(tmp_path, capsys, idle_machine, monkeypatch, fmt):
    root = _project(tmp_path)
    one = _check(root, capsys, "--no-cache", "-j", "1", "--format", fmt)
    ran: list[int] = []
    run_units = jobs.run_units
    monkeypatch.setattr(
        "torchlint.commands.check.run_units", lambda units, n, *a: ran.append(n) or run_units(units, n, *a)
    )
    two = _check(root, capsys, "--no-cache", "-j", "2", "--format", fmt)
    assert ran == [2]  # the second run did use two workers
    assert one == two
    if fmt == "json":
        codes = sorted(f["code"] for f in json.loads(one[1]))
        assert codes == ["TL001", "TL101", "TL101", "TL101", "TL201", "TL201", "TL201", "syntax-error"]


def test_fixes_and_diffs_are_the_same_whatever_the_number_of_processes(tmp_path, capsys, idle_machine):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    _project(a)
    _project(b)
    diff_one = _check(a, capsys, "--no-cache", "-j", "1", "--fix", "--diff")
    assert "zero_grad" in diff_one[1]
    assert _check(a, capsys, "--no-cache", "-j", "2", "--fix", "--diff") == diff_one
    fixed_one = _check(a, capsys, "--no-cache", "-j", "1", "--fix")
    fixed_two = _check(b, capsys, "--no-cache", "-j", "2", "--fix")
    assert fixed_one[1].replace(str(a), "") == fixed_two[1].replace(str(b), "")
    for path in sorted(a.rglob("*.py")):
        assert path.read_bytes() == (b / path.relative_to(a)).read_bytes(), path


def test_what_workers_find_is_cached(tmp_path, capsys, idle_machine, monkeypatch):
    (tmp_path / "p").mkdir()
    root = _project(tmp_path / "p")
    cache = ["--cache-dir", str(tmp_path / "cache")]
    first = _check(root, capsys, "-j", "2", *cache)
    analysed: list[str] = []
    check_file = Checker.check_file
    monkeypatch.setattr(Checker, "check_file", lambda self, p, t: analysed.append(p) or check_file(self, p, t))
    assert _check(root, capsys, "-j", "1", *cache) == first
    assert analysed == []  # every file's result came from the cache the two workers wrote

"""`torchlint check` end to end, as a subprocess: formats, exit codes, config, noqa, fixes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BUGGY = textwrap.dedent(
    """\
    import torch
    from torch import nn

    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()

    model.train()
    for x, y in train_loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    """
)
CLEAN = BUGGY.replace("    loss = criterion", "    optimizer.zero_grad()\n    loss = criterion")


def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "torchlint", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(BUGGY)
    (tmp_path / "clean.py").write_text(CLEAN)
    return tmp_path


def test_text_output_and_exit_code(project):
    r = run("check", str(project / "train.py"))
    assert r.returncode == 1, r.stderr
    line = r.stdout.splitlines()[0]
    assert line.startswith(f"{project / 'train.py'}:11:5: TL101 ")


@pytest.mark.parametrize("files", [1, 300], ids=["buffered", "larger-than-the-buffer"])
def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path, files):
    # `torchlint check | head -1`: the program leaves without tearing the interpreter down
    # (cli.run), after flushing what it printed; a closed pipe is not an internal error
    for i in range(files):
        (tmp_path / f"train_{i}.py").write_text(BUGGY)
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchlint", "check", "--no-cache", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is printed
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (1, 2)
    assert "Traceback" not in err and "Exception ignored" not in err, err


def test_clean_file_exits_zero(project):
    r = run("check", str(project / "clean.py"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""


def test_json_is_ruff_shaped(project):
    r = run("check", "--format", "json", str(project / "train.py"))
    data = json.loads(r.stdout)
    assert [d["code"] for d in data] == ["TL101"]
    d = data[0]
    assert set(d) >= {"code", "message", "filename", "location", "end_location", "fix", "url", "severity"}
    assert d["location"] == {"row": 11, "column": 5}
    assert d["end_location"] == {"row": 11, "column": 20}
    assert d["fix"]["applicability"] == "safe"
    assert d["fix"]["edits"][0]["content"] == "\n    optimizer.zero_grad()"
    assert d["severity"] == "error"
    assert d["url"].endswith("/TL101.md")


def test_sarif(project):
    r = run("check", "--format", "sarif", str(project))
    sarif = json.loads(r.stdout)
    assert sarif["version"] == "2.1.0"
    run0 = sarif["runs"][0]
    assert {"TL101", "TL201"} <= {rule["id"] for rule in run0["tool"]["driver"]["rules"]}
    (result,) = run0["results"]
    assert result["ruleId"] == "TL101" and result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 11


def test_directory_is_recursive_and_respects_gitignore(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "sub" / "train.py").write_text(BUGGY)
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "train.py").write_text(BUGGY)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "train.py").write_text(BUGGY)
    (tmp_path / ".gitignore").write_text("ignored/\n")
    r = run("check", ".", "--format", "json", cwd=tmp_path)
    files = {Path(d["filename"]).as_posix() for d in json.loads(r.stdout)}
    assert files == {"pkg/sub/train.py"}


def test_severity_table_takes_syntax_error_as_spelled(tmp_path):
    (tmp_path / "broken.py").write_text("import torch\ndef f(:\n")
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint.severity]\nsyntax-error = "warning"\n')
    r = run("check", ".", "--format", "json", cwd=tmp_path)
    (finding,) = json.loads(r.stdout)
    assert finding["code"] == "syntax-error" and finding["severity"] == "warning"


def test_select_and_ignore(project):
    assert run("check", "--ignore", "TL101", str(project / "train.py")).returncode == 0
    assert run("check", "--select", "TL2", str(project / "train.py")).returncode == 0
    assert run("check", "--select", "TL1", str(project / "train.py")).returncode == 1


def test_pyproject_config(project):
    (project / "pyproject.toml").write_text(
        '[tool.torchlint]\nper-file-ignores = {"clean.py" = ["TL1"]}\n[tool.torchlint.severity]\nTL101 = "warning"\n'
    )
    r = run("check", ".", "--format", "json", cwd=project)
    (finding,) = json.loads(r.stdout)
    assert finding["severity"] == "warning"
    (project / "pyproject.toml").write_text('[tool.torchlint]\nper-file-ignores = {"train.py" = ["TL101"]}\n')
    assert run("check", ".", cwd=project).returncode == 0


@pytest.mark.parametrize(
    "body, says",
    [
        ('[tool.torchlint]\nseverity = {TL101 = "loud"}\n', ["`severity.TL101`", "one of error, warning"]),
        ("[tool.torchlint]\nexclude = 5\n", ["`exclude`", "a list of strings", "int 5"]),
        ("[tool.torchlint]\nextra-paths = 5\n", ["`extra-paths`", "a list of strings"]),
        ('[tool.torchlint]\noverfit = {steps = "many"}\n', ["`overfit.steps`", "a positive integer", "'many'"]),
        ("[tool.torchlint]\noverfit = {steps = 0}\n", ["`overfit.steps`", "a positive integer"]),
        ("[tool.torchlint]\noverfit = {stepz = 10}\n", ["`overfit.stepz`", "known: steps, timeout"]),
        ("tool = 5  # torchlint\n", ["`tool`", "a table"]),
        ("[tool]\ntorchlint = 5\n", ["`tool.torchlint`", "a table"]),
        ("[tool.torchlint]\nselect = 5\n", ["`select`", "a list of rule codes"]),
        ('[tool.torchlint]\nselect = ["TL1", 3]\n', ["`select`", "a list of rule codes"]),
        ('[tool.torchlint]\nignore = ["bogus"]\n', ["`ignore`", "unknown rule code 'BOGUS'"]),
        ('[tool.torchlint]\nper-file-ignores = {"x.py" = 3}\n', ["`per-file-ignores.x.py`"]),
        ("[tool.torchlint]\nselct = []\n", ["unknown option `selct`", "known: select"]),
        ("[tool.torchlint\nselect = [\n", ["invalid TOML"]),
    ],
)
def test_bad_config_is_one_line_and_exit_2(project, body, says):
    (project / "pyproject.toml").write_text(body)
    r = run("check", ".", cwd=project)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("torchlint: error: ") and "pyproject.toml" in lines[0], lines[0]
    for part in says:
        assert part in lines[0], lines[0]
    assert r.stdout == ""


def test_interpreter_in_pyproject_is_ignored_with_a_warning(project, tmp_path_factory):
    marker = tmp_path_factory.mktemp("marker") / "ran"
    script = project / "evil.sh"
    script.write_text(f'#!/bin/sh\ntouch {marker}\nexec python3 "$@"\n')
    script.chmod(0o755)
    (project / "pyproject.toml").write_text(f'[tool.torchlint]\ninterpreter = "{script}"\n')
    # a class from a package Jedi must resolve: the moment it would run the interpreter
    (project / "train.py").write_text("import torch\nfrom somepkg import Net\nmodel = Net()\n" + BUGGY)
    r = run("check", ".", cwd=project)
    assert r.returncode == 1, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert (
        len(warnings) == 1 and "`interpreter` in pyproject.toml is ignored" in warnings[0] and "--python" in warnings[0]
    )
    assert not marker.exists(), "a pyproject.toml made torchlint run a program"
    # the control: the same script named by the user (flag or environment) is what Jedi runs
    assert run("check", ".", "--python", str(script), cwd=project).returncode == 1
    assert marker.exists(), "the test never reached the point where Jedi starts an interpreter"


def test_noqa(project):
    text = BUGGY.replace("loss.backward()", "loss.backward()  # noqa: TL101")
    (project / "train.py").write_text(text)
    assert run("check", str(project / "train.py")).returncode == 0
    (project / "train.py").write_text(BUGGY.replace("loss.backward()", "loss.backward()  # noqa: TL201"))
    assert run("check", str(project / "train.py")).returncode == 1
    (project / "train.py").write_text(BUGGY.replace("loss.backward()", "loss.backward()  # noqa"))
    assert run("check", str(project / "train.py")).returncode == 0
    (project / "train.py").write_text("# torchlint: noqa\n" + BUGGY)
    assert run("check", str(project / "train.py")).returncode == 0


def test_fix_writes_safe_fixes(project):
    r = run("check", "--fix", str(project / "train.py"))
    assert r.returncode == 0, r.stdout
    assert (project / "train.py").read_text() == BUGGY.replace(
        "    optimizer.step()\n", "    optimizer.step()\n    optimizer.zero_grad()\n"
    )
    assert run("check", str(project / "train.py")).returncode == 0


def test_fix_diff_leaves_file_alone(project):
    r = run("check", "--fix", "--diff", str(project / "train.py"))
    assert "+    optimizer.zero_grad()" in r.stdout
    assert (project / "train.py").read_text() == BUGGY


def test_syntax_error_reports_and_keeps_analysing(tmp_path):
    text = BUGGY + "\ndef broken(:\n    pass\n"
    (tmp_path / "t.py").write_text(text)
    r = run("check", "--format", "json", str(tmp_path / "t.py"))
    assert r.returncode == 1
    codes = [(d["code"], d["location"]["row"]) for d in json.loads(r.stdout)]
    assert ("syntax-error", 14) in codes
    assert ("TL101", 11) in codes


def test_non_utf8_file(tmp_path):
    (tmp_path / "latin.py").write_bytes(b"import torch\nname = '\xe9t\xe9'\n")
    r = run("check", str(tmp_path / "latin.py"))
    assert r.returncode == 0, "a file torchlint cannot read is a note, not a finding"
    assert "TL001 not analysed: the file is not text" in r.stdout
    assert "Traceback" not in r.stderr
    # with a coding cookie the same bytes are valid Python
    (tmp_path / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\nimport torch\nname = '\xe9t\xe9'\n")
    assert run("check", str(tmp_path / "latin.py")).returncode == 0


def test_empty_file_and_file_without_torch(tmp_path):
    (tmp_path / "empty.py").write_text("")
    (tmp_path / "plain.py").write_text("for x in data:\n    x.backward()\n    opt.step()\n")
    r = run("check", str(tmp_path))
    assert r.returncode == 0, r.stdout


def test_missing_path_is_a_usage_error(tmp_path):
    r = run("check", str(tmp_path / "nope.py"))
    assert r.returncode == 2
    assert "no such file" in r.stderr


def test_rule_command_prints_docs():
    r = run("rule", "TL101")
    assert r.returncode == 0
    assert "## What it does" in r.stdout and "missing-zero-grad" in r.stdout
    assert run("rule", "TL999").returncode == 2
    listing = run("rule", "--all").stdout
    assert "TL201" in listing and "eval-mode-leaks-into-training" in listing


def test_examples_shipped_in_repo():
    r = run("check", "examples", "--format", "json", cwd=ROOT)
    found = {(Path(d["filename"]).name, d["code"]) for d in json.loads(r.stdout)}
    assert ("buggy_train.py", "TL101") in found and ("buggy_train.py", "TL201") in found
    assert not any(name == "clean_train.py" for name, _ in found), found


def test_huge_file_is_reported_not_analysed(tmp_path):
    body = "import torch\n" + "x = torch.zeros(1)\n" * 120_000  # about 2.3 M characters
    (tmp_path / "huge.py").write_text(body)
    r = run("check", "--format", "json", str(tmp_path / "huge.py"))
    (finding,) = json.loads(r.stdout)
    assert finding["code"] == "TL001" and "not analysed" in finding["message"]
    assert finding["severity"] == "information"
    assert r.returncode == 0
    # shown whatever `select` says, hidden only by ignoring it
    assert json.loads(run("check", "--format", "json", "--select", "TL101", str(tmp_path / "huge.py")).stdout)
    assert run("check", "--ignore", "TL001", str(tmp_path / "huge.py")).stdout == ""
    # a noqa comment does not hide it: it says the file went unread, not that a line is wrong
    for comment in ("# torchlint: noqa\n", "import torch  # noqa: TL001\n"):
        (tmp_path / "huge.py").write_text(comment + body)
        r = run("check", "--format", "json", str(tmp_path / "huge.py"))
        assert [f["code"] for f in json.loads(r.stdout)] == ["TL001"], comment


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
def test_special_files_are_noted_never_read(tmp_path, kind):
    import os
    import socket

    (tmp_path / "train.py").write_text(BUGGY)
    special = tmp_path / "special.py"
    if kind == "fifo":
        os.mkfifo(special)  # reading it would block forever
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(special))
    else:
        special.symlink_to("/dev/zero")  # reading it would never end
    for target in (tmp_path, special):
        r = run("check", "--format", "json", str(target), timeout=60)
        notes = [d for d in json.loads(r.stdout) if d["code"] == "TL001"]
        assert len(notes) == 1 and notes[0]["filename"].endswith("special.py"), r.stdout
        assert "not a regular file" in notes[0]["message"]
    r = run("check", str(special), timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert run("check", str(tmp_path), timeout=60).returncode == 1  # train.py's findings still count


def test_parallel_jobs_give_the_same_findings():
    fixtures = ROOT / "tests" / "fixtures" / "rules" / "TL201"
    one = run("check", "--format", "json", "-j", "1", str(fixtures))
    two = run("check", "--format", "json", "-j", "2", str(fixtures))
    assert one.returncode == two.returncode == 1
    assert json.loads(one.stdout) == json.loads(two.stdout)
    assert any(Path(d["filename"]).name == "train.py" and d["code"] == "TL201" for d in json.loads(two.stdout))


def test_a_file_parsed_first_for_another_keeps_the_name_it_was_given(tmp_path):
    """While `a/main.py` is analysed the workspace reads the other files (who calls its
    `train`?) under their full paths; `b/main.py`'s own findings still name it as the
    command line did."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "main.py").write_text(
        textwrap.dedent(
            """\
        import torch
        from torch import nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.LSTM(4, 8)
                self.head = nn.Linear(8, 2)

            def forward(self, x):
                return self.head(self.rnn(x)[0])


        def train(model, loader, optimizer):
            for x, y in loader:
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()


        model = Net()
        train(model, loader, torch.optim.SGD(model.parameters(), lr=0.1))
        """
        )
    )
    # `main` and `train` are named there: the workspace reads it as a possible caller of
    # a/main.py's `train`
    (tmp_path / "b" / "main.py").write_text(
        "import torch\n\n\ndef main(path, train=False):\n    return torch.load(path)\n"
    )
    r = run("check", "--no-cache", "--format", "json", "a/main.py", "b/main.py", cwd=tmp_path)
    names = {(d["filename"], d["code"]) for d in json.loads(r.stdout)}
    assert names == {("a/main.py", "TL109"), ("b/main.py", "TL602")}, r.stderr

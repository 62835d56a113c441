"""`torchlint check` on Jupyter notebooks, as a subprocess: findings per cell (text, JSON,
SARIF), magics, broken cells, notes, discovery, and `--fix` writing back only the sources."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from torchlint.analysis.notebook import _source_spans, read_notebook

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "tests" / "fixtures" / "notebooks"
FIX_PAIRS = ROOT / "tests" / "fixtures" / "notebook_fixes"
_EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>[A-Za-z0-9-]+(?:\s*,\s*[A-Za-z0-9-]+)*)")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "torchlint", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def expected(path: Path) -> set[tuple[int, int, str]]:
    """(cell, row, code) from the `# expect:` comments in the notebook's code cells."""
    out = set()
    for cell in read_notebook(path.read_text(encoding="utf-8")).code_cells:
        for row, line in enumerate(cell.source.splitlines(), start=1):
            m = _EXPECT.search(line)
            if m:
                out |= {(cell.number, row, c.strip()) for c in m.group("codes").split(",")}
    return out


CASES = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if p.stem not in ("not_json", "r_kernel"))


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_findings_land_on_their_cells(path, tmp_path):
    shutil.copy(path, tmp_path / path.name)
    proc = run("check", path.name, "--format", "json", "--no-jedi", cwd=tmp_path)
    got = {(f["cell"], f["location"]["row"], f["code"]) for f in json.loads(proc.stdout)}
    assert got == expected(path)
    assert proc.returncode == (1 if got else 0), proc.stderr


def test_text_output_names_the_cell(tmp_path):
    shutil.copy(NOTEBOOKS / "cross_cell_helper.ipynb", tmp_path)
    proc = run("check", "cross_cell_helper.ipynb", cwd=tmp_path)
    assert proc.stdout.startswith("cross_cell_helper.ipynb:cell 7:9:15: TL201 `evaluate(model, test_loader)`")


def test_related_location_points_into_the_helpers_cell(tmp_path):
    shutil.copy(NOTEBOOKS / "cross_cell_helper.ipynb", tmp_path)
    [finding] = json.loads(run("check", "cross_cell_helper.ipynb", "--format", "json", cwd=tmp_path).stdout)
    assert [(r["cell"], r["location"]["row"]) for r in finding["related"]] == [
        (4, 2),
        (7, 7),
    ]  # `model.eval()` in evaluate(), the next backward()
    assert finding["fix"]["edits"][0]["location"]["row"] <= 10  # relative to the training cell


def test_sarif_regions_carry_the_cell(tmp_path):
    shutil.copy(NOTEBOOKS / "findings_in_cells.ipynb", tmp_path)
    sarif = json.loads(run("check", "findings_in_cells.ipynb", "--format", "sarif", cwd=tmp_path).stdout)
    regions = {
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["region"]["properties"]["cell"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in sarif["runs"][0]["results"]
    }
    assert regions == {("TL101", 3, 4), ("TL203", 5, 2), ("TL202", 5, 3)}


@pytest.mark.parametrize("name, why", [("not_json", "not valid JSON"), ("r_kernel", "not a Python notebook")])
def test_unreadable_or_foreign_notebooks_get_a_note(name, why, tmp_path):
    shutil.copy(NOTEBOOKS / f"{name}.ipynb", tmp_path)
    proc = run("check", f"{name}.ipynb", cwd=tmp_path)
    assert proc.returncode == 0 and "TL001 not analysed: " in proc.stdout and why in proc.stdout, (
        proc.stdout + proc.stderr
    )


def test_directories_include_notebooks_unless_configured(tmp_path):
    shutil.copy(NOTEBOOKS / "findings_in_cells.ipynb", tmp_path)
    (tmp_path / ".ipynb_checkpoints").mkdir()  # Jupyter's autosaved copies are not the user's files
    shutil.copy(
        NOTEBOOKS / "findings_in_cells.ipynb", tmp_path / ".ipynb_checkpoints" / "findings_in_cells-checkpoint.ipynb"
    )
    out = run("check", ".", cwd=tmp_path).stdout
    assert "findings_in_cells.ipynb:cell 3" in out and "checkpoint" not in out
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\ninclude = ["*.py"]\n')
    proc = run("check", ".", cwd=tmp_path)
    assert proc.returncode == 0 and "ipynb" not in proc.stdout
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\ninclude = ["*.py"]\nextend-include = ["*.ipynb"]\n')
    assert "findings_in_cells.ipynb:cell 3" in run("check", ".", cwd=tmp_path).stdout


def _outside_sources(raw: str) -> list[str]:
    """The notebook's text with every cell's `source` value cut out."""
    pieces, cursor = [], 0
    for _, a, b in sorted(_source_spans(raw).values()):
        pieces.append(raw[cursor:a])
        cursor = b
    return pieces + [raw[cursor:]]


PAIRS = sorted(FIX_PAIRS.glob("*.in.ipynb"))


@pytest.mark.parametrize("src", PAIRS, ids=lambda p: p.name.split(".")[0])
def test_fix_writes_back_only_the_changed_sources(src, tmp_path):
    work = tmp_path / "nb.ipynb"
    shutil.copy(src, work)
    before = src.read_text(encoding="utf-8")
    proc = run("check", "--fix", "nb.ipynb", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = work.read_text(encoding="utf-8")
    assert after == src.with_name(src.name.replace(".in.", ".out.")).read_text(encoding="utf-8")
    assert _outside_sources(after) == _outside_sources(before)  # byte for byte: outputs, ids, metadata, style
    assert after.endswith("\n") == before.endswith("\n")
    changed = [
        a.number for a, b in zip(read_notebook(before).cells, read_notebook(after).cells) if a.source != b.source
    ]
    assert len(changed) == 1
    # converged: a second run changes nothing
    run("check", "--fix", "nb.ipynb", cwd=tmp_path)
    assert work.read_text(encoding="utf-8") == after


def test_fix_diff_shows_the_cell_and_writes_nothing(tmp_path):
    shutil.copy(FIX_PAIRS / "jupyter_style.in.ipynb", tmp_path / "nb.ipynb")
    before = (tmp_path / "nb.ipynb").read_bytes()
    proc = run("check", "--fix", "--diff", "nb.ipynb", cwd=tmp_path)
    assert "--- a/nb.ipynb:cell 4\n+++ b/nb.ipynb:cell 4\n" in proc.stdout
    assert "+        optimizer.zero_grad()\n" in proc.stdout
    assert (tmp_path / "nb.ipynb").read_bytes() == before


def test_fix_never_edits_a_masked_magic(tmp_path):
    shutil.copy(FIX_PAIRS / "magic_in_cell.in.ipynb", tmp_path / "nb.ipynb")
    run("check", "--fix", "nb.ipynb", cwd=tmp_path)
    cell = read_notebook((tmp_path / "nb.ipynb").read_text(encoding="utf-8")).cells[1].source
    assert cell.startswith("%%time\n") and "    %time loss = criterion(model(x), y)\n" in cell

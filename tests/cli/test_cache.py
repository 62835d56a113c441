"""The result cache of `torchlint check`: reused only while the file, the files its analysis
read, the configuration and the engine are unchanged."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

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
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            evaluate(model, test_loader)
""")


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "torchlint", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TORCHLINT_CACHE_DIR": ""},
    )


def project(tmp_path: Path) -> Path:
    (tmp_path / "helpers.py").write_text(HELPERS)
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def mark_cached(cache: Path, name: str, message: str) -> None:
    """Rewrite the message of the first cached finding of `name` in the cache file."""
    (file,) = cache.glob("results-*.marshal")
    entries = marshal.loads(file.read_bytes())
    for path, entry in entries.items():
        if path.endswith(name) and entry[4]:
            finding = list(entry[4][0])
            finding[1] = message
            entries[path] = (*entry[:4], (tuple(finding), *entry[4][1:]))
            file.write_bytes(marshal.dumps(entries))
            return
    raise AssertionError(f"no cache entry with findings for {name}")


def test_second_run_reuses_results_and_no_cache_ignores_them(tmp_path):
    root = project(tmp_path)
    first = run(root, ".")
    assert "TL201" in first.stdout
    cache = root / ".torchlint_cache"
    assert (cache / ".gitignore").read_text().endswith("*\n")
    # a reused result is what the cache says: mark it, and see the mark come back
    mark_cached(cache, "train.py", "FROM THE CACHE")
    assert "FROM THE CACHE" in run(root, ".").stdout
    assert "FROM THE CACHE" not in run(root, ".", "--no-cache").stdout
    # a different configuration does not reuse it
    assert "FROM THE CACHE" not in run(root, ".", "--select", "TL2").stdout


def test_a_change_in_an_imported_file_invalidates_its_importers(tmp_path):
    root = project(tmp_path)
    assert "TL201" in run(root, ".").stdout
    # the helper now restores training mode: train.py's finding must go, though train.py is unchanged
    (root / "helpers.py").write_text(
        HELPERS.replace(
            "        return sum(model(x).sum().item() for x, _ in loader)\n",
            "        total = sum(model(x).sum().item() for x, _ in loader)\n    model.train()\n    return total\n",
        )
    )
    assert "model.train()" in (root / "helpers.py").read_text()
    out = run(root, ".").stdout
    assert "TL201" not in out, out


def test_an_edited_file_is_analysed_again(tmp_path):
    root = project(tmp_path)
    run(root, ".")
    (root / "train.py").write_text(TRAIN.replace("        optimizer.zero_grad()\n", ""))
    assert "TL101" in run(root, ".").stdout


def test_an_unwritable_cache_is_no_error(tmp_path):
    root = project(tmp_path)
    blocked = root / "blocked"
    blocked.write_text("a file where the cache directory would go")
    proc = run(root, "train.py", "--cache-dir", str(blocked / "cache"))
    assert proc.returncode == 1 and "TL201" in proc.stdout and proc.stderr == ""

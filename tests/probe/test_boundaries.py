"""Import boundaries: the parent side never imports torch; the child side needs only stdlib + torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from torchlint.probe.runner import INSTRUMENT, LOAD_INSTRUMENT


def test_parent_side_does_not_import_torch():
    code = (
        "import sys, torchlint.probe.runner, torchlint.probe.cli, torchlint.probe.report, "
        "torchlint.probe.verdict, torchlint.lsp.overfit; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_instrument_imports_only_stdlib_torch_and_its_own_modules():
    modules = {path.stem for path in INSTRUMENT.glob("*.py")}
    assert {"__init__", "channel", "patches", "checks"} <= modules
    roots = set()
    for path in sorted(INSTRUMENT.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots.add(node.module.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                # relative imports stay inside the package: never up into torchlint
                assert node.level == 1, f"{path.name}:{node.lineno} imports outside the instrument package"
                names = [node.module] if node.module else [a.name for a in node.names]
                assert set(names) <= modules, f"{path.name}:{node.lineno} imports {names}"
    assert roots - set(sys.stdlib_module_names) == {"torch"}


def test_instrument_loads_by_path_without_torchlint(tmp_path: Path):
    """Loaded as the runner loads it, from a folder where the user has modules named like the
    probe's: nothing of torchlint is imported, and the user's modules are not picked up."""
    for name in ("checks", "channel", "patches", "state", "probe"):
        (tmp_path / f"{name}.py").write_text("raise SystemExit('the user module was imported')\n")
    check = (
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('torchlint', 'checks', 'channel', 'patches'))\n"
        "assert not bad, bad\n"
        "assert callable(m.main) and m.__name__ == '_torchlint_probe_instrument'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_INSTRUMENT + check, str(INSTRUMENT)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr

"""Import boundaries: the parent side never imports torch; the child side needs only stdlib + torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import torchlint.probe

INSTRUMENT = Path(torchlint.probe.__file__).with_name("instrument.py")


def test_parent_side_does_not_import_torch():
    code = (
        "import sys, torchlint.probe.runner, torchlint.probe.cli, torchlint.probe.report, "
        "torchlint.probe.verdict, torchlint.lsp.overfit; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_instrument_imports_only_stdlib_and_torch():
    tree = ast.parse(INSTRUMENT.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"relative import in instrument.py: line {node.lineno}")
    assert roots - set(sys.stdlib_module_names) == {"torch"}

"""Names the AST cannot resolve are looked up with Jedi in the analysed environment:
a Module subclass from a package installed in the user's interpreter (not the workspace)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from torchlint.checker import Checker
from torchlint.config import Config

TRAIN = textwrap.dedent(
    """\
    import torch
    from extlib import Backbone

    feat = Backbone()
    with torch.no_grad():
        for x, y in test_loader:
            out = feat(x)
    """
)


@pytest.fixture(scope="module")
def user_env(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("jedi")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    pkg = site / "extlib"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .nets import Backbone\n")
    (pkg / "nets.py").write_text(
        "import torch.nn as nn\n\n\nclass Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.drop = nn.Dropout(0.1)\n\n\nclass Backbone(Block):\n    def forward(self, x):\n        return self.drop(x)\n"
    )
    ws = base / "ws"
    ws.mkdir()
    (ws / "evaluate.py").write_text(TRAIN)
    return venv / "bin" / "python", ws


def _codes(checker: Checker, path: Path) -> set[str]:
    return {f.code for f in checker.check(str(path), path.read_text())}


def test_installed_module_subclass_is_resolved_through_jedi(user_env):
    python, ws = user_env
    checker = Checker(Config(interpreter=str(python)), root=ws)
    assert "TL202" in _codes(checker, ws / "evaluate.py")


def test_without_jedi_the_name_stays_unknown_and_the_rule_silent(user_env):
    python, ws = user_env
    checker = Checker(Config(interpreter=str(python)), root=ws)
    checker.workspace.use_jedi = False
    assert "TL202" not in _codes(checker, ws / "evaluate.py")

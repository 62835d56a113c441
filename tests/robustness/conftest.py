"""The robustness tests drive the real server with the LSP tests' harness and `start` fixture."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_LSP = Path(__file__).resolve().parents[1] / "lsp"
sys.path.insert(0, str(_LSP))
_spec = importlib.util.spec_from_file_location("_torchlint_lsp_conftest", _LSP / "conftest.py")
_lsp_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_lsp_conftest)

start = _lsp_conftest.start

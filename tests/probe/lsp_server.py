"""Minimal pygls server exposing only the overfit commands (tests; independent of lsp/server.py)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "server"))

from pygls.lsp.server import LanguageServer

from torchlint.lsp import overfit

server = LanguageServer("torchlint-overfit-test", "0")
overfit.register(
    server,
    lambda: {
        "overfit": {"steps": int(os.environ.get("TL_TEST_STEPS", "40"))},
        "overfit_timeout": float(os.environ.get("TL_TEST_TIMEOUT", "60")),
    },
)

if __name__ == "__main__":
    server.start_io()

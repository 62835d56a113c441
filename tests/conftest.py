import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
os.environ.setdefault("PYTHONPATH", str(ROOT / "server"))

# Fixture files are data for the rule tests, not tests (some are named test_*.py on purpose).
collect_ignore_glob = ["fixtures/*", "probe/scripts/*"]

# `torchlint check` caches results beside the project it checks; tests that run it on the
# fixtures must not leave caches in the repository (tests/cli/test_cache.py sets its own).
if "TORCHLINT_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["TORCHLINT_CACHE_DIR"] = tempfile.mkdtemp(prefix="torchlint-test-cache-")

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
os.environ.setdefault("PYTHONPATH", str(ROOT / "server"))

# Fixture files are data for the rule tests, not tests (some are named test_*.py on purpose).
collect_ignore_glob = ["fixtures/*", "probe/scripts/*"]

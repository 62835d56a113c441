"""Runs the fixture scripts once per session, a few at a time, and shares the reports."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_support import _run_all

from torchlint.probe.report import Report


@pytest.fixture(scope="session")
def reports() -> dict[str, Report]:
    return asyncio.run(_run_all())

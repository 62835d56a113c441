"""The result cache's store: entries survive a run whole, are recognised by stamp without
reading the file and by content when the stamp moved, and parallel workers' entries merge."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from torchlint.analysis.findings import Edit, Finding, Fix, Related, Severity, Span
from torchlint.commands.cache import Cache

KEY = "engine+config"


def _finding(path: Path) -> Finding:
    span = Span.of(3, 4, 3, 9)
    return Finding(
        "TL201",
        "eval() leaks",
        str(path),
        span,
        Severity.WARNING,
        Fix("Call train()", (Edit(span, "model.train()\n"),), "unsafe"),
        (Related(str(path), Span.of(1, 0, 1, 5), "here", 2),),
        {"n": 1, "names": ["a", "b"]},
        3,
    )


def _files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "helpers.py").write_text("def f():\n    pass\n")
    (tmp_path / "train.py").write_text("import torch\nfrom helpers import f\n")
    return tmp_path / "train.py", tmp_path / "helpers.py"


def _store(cache_dir: Path, train: Path, helpers: Path) -> Finding:
    cache = Cache(cache_dir, KEY)
    finding = _finding(train)
    cache.put(train, train.read_text(), [finding], {str(helpers), str(train)}, None)
    cache.save()
    return finding


def test_an_entry_comes_back_whole_by_stamp_and_by_content(tmp_path):
    train, helpers = _files(tmp_path)
    finding = _store(tmp_path / "cache", train, helpers)
    cache = Cache(tmp_path / "cache", KEY)
    assert cache.lookup(train, lambda: "") == [finding]
    assert cache.get(train, train.read_text(), lambda: "") == [finding]
    assert (tmp_path / "cache" / ".gitignore").is_file()
    assert Cache(tmp_path / "cache", "another engine").get(train, train.read_text(), lambda: "") is None


def test_a_touched_file_is_recognised_by_content_a_changed_one_is_not(tmp_path):
    train, helpers = _files(tmp_path)
    finding = _store(tmp_path / "cache", train, helpers)
    st = train.stat()
    os.utime(train, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    cache = Cache(tmp_path / "cache", KEY)
    assert cache.lookup(train, lambda: "") is None  # the stamp moved: read it
    assert cache.get(train, train.read_text(), lambda: "") == [finding]
    assert cache.get(train, train.read_text() + "x = 1\n", lambda: "") is None


def test_a_file_whose_permissions_changed_is_looked_at_again(tmp_path):
    # chmod keeps the mtime: a file made unreadable must be read (and get its TL001 note), not
    # answered from the cache by its old stamp
    train, helpers = _files(tmp_path)
    _store(tmp_path / "cache", train, helpers)
    st = train.stat()
    train.chmod(0o200)
    os.utime(train, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert Cache(tmp_path / "cache", KEY).lookup(train, lambda: "") is None


def test_a_change_in_a_file_the_result_read_invalidates_it(tmp_path):
    train, helpers = _files(tmp_path)
    _store(tmp_path / "cache", train, helpers)
    helpers.write_text("def f():\n    return 1\n")
    cache = Cache(tmp_path / "cache", KEY)
    assert cache.lookup(train, lambda: "") is None
    assert cache.get(train, train.read_text(), lambda: "") is None


def test_the_file_list_is_compared_only_when_the_analysis_looked_for_importers(tmp_path):
    train, _ = _files(tmp_path)
    cache = Cache(tmp_path / "cache", KEY)
    cache.put(train, train.read_text(), [], set(), "files-v1")
    cache.save()
    assert Cache(tmp_path / "cache", KEY).get(train, train.read_text(), lambda: "files-v1") == []
    assert Cache(tmp_path / "cache", KEY).get(train, train.read_text(), lambda: "files-v2") is None


def test_workers_entries_merge_and_a_worker_that_never_saves_still_leaves_them(tmp_path):
    train, helpers = _files(tmp_path)
    first, second = Cache(tmp_path / "cache", KEY), Cache(tmp_path / "cache", KEY)
    first.put(train, train.read_text(), [_finding(train)], set(), None)
    second.put(helpers, helpers.read_text(), [], set(), None)
    first.save()
    del second  # collected: its entries are written then
    gc.collect()
    cache = Cache(tmp_path / "cache", KEY)
    assert cache.get(train, train.read_text(), lambda: "") == [_finding(train)]
    assert cache.get(helpers, helpers.read_text(), lambda: "") == []

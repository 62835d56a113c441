"""Which files `torchlint check` looks at: Python files under the given paths, minus
excluded directories and whatever `.gitignore` files say."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config

if TYPE_CHECKING:
    import pathspec


def discover(paths: list[Path], config: Config) -> list[Path]:
    excluded = set(config.exclude) | set(config.extend_exclude)
    included = tuple(config.include) + tuple(config.extend_include)
    out: list[Path] = []
    for p in paths:
        if not p.is_dir():
            out.append(p)  # named explicitly: always checked, like ruff (a FIFO gets a TL001 note)
            continue
        out.extend(_walk(p, excluded, included))
    seen, unique = set(), []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _walk(root: Path, excluded: set[str], included: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    specs: list[tuple[Path, pathspec.PathSpec]] = []
    # .gitignore files above the root (up to the repository top) still apply
    for d in [root.resolve(), *root.resolve().parents]:
        spec = _gitignore(d)
        if spec:
            specs.append((d, spec))
        if (d / ".git").exists():
            break
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        spec = _gitignore(here.resolve())
        if spec and all(here.resolve() != d for d, _ in specs):
            specs.append((here.resolve(), spec))
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in excluded
            and not _ignored(here / d, specs, True)
            and not any(fnmatch.fnmatch(d, pat) for pat in excluded)
        )
        for name in sorted(filenames):
            f = here / name
            if _included(f.relative_to(root).as_posix(), included) and not _ignored(f, specs, False):
                found.append(f)
    return found


def _included(rel: str, patterns: tuple[str, ...]) -> bool:
    """ruff's `include`: a pattern matches the file's name, or its path below the root."""
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(name, pat) or fnmatch.fnmatch(rel, pat) for pat in patterns)


def _gitignore(d: Path) -> pathspec.PathSpec | None:
    f = d / ".gitignore"
    if not f.is_file():
        return None
    import pathspec  # only where there is a .gitignore (its import is ~20 ms of a run)

    try:
        return pathspec.PathSpec.from_lines(
            "gitwildmatch", f.read_text(encoding="utf-8", errors="replace").splitlines()
        )
    except Exception:
        return None


def _ignored(path: Path, specs: list[tuple[Path, pathspec.PathSpec]], is_dir: bool) -> bool:
    full = path.resolve()
    for base, spec in specs:
        try:
            rel = full.relative_to(base).as_posix()
        except ValueError:
            continue
        if spec.match_file(rel + ("/" if is_dir else "")):
            return True
    return False

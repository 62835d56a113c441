"""Configuration: `[tool.torchlint]` in pyproject.toml merged with editor settings.

One object answers every "is this code on here, and how loud?" question, so the
CLI and the language server cannot disagree.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .analysis.findings import NOT_ANALYSED, SYNTAX_ERROR, Severity

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__", "node_modules",
    "build", "dist", ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages", ".eggs",
)


class ConfigError(ValueError):
    """The configuration is malformed; the message says where."""


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] | None = None  # code prefixes; None means every rule
    ignore: tuple[str, ...] = ()
    per_file_ignores: dict[str, tuple[str, ...]] = field(default_factory=dict)
    severity: dict[str, Severity] = field(default_factory=dict)
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    interpreter: str | None = None
    extra_paths: tuple[str, ...] = ()  # more import roots (like pyright's extraPaths)
    overfit_steps: int | None = None
    overfit_timeout: float | None = None
    root: Path | None = None  # directory holding the pyproject.toml (per-file-ignores are relative to it)

    # -- questions -----------------------------------------------------------
    def is_enabled(self, code: str, path: str | None = None) -> bool:
        if code == SYNTAX_ERROR:
            return True
        if code != NOT_ANALYSED and self.select is not None and not _matches(code, self.select):
            return False
        if _matches(code, self.ignore):
            return False
        if path is not None and self.per_file_ignores:
            rel = self._relative(path)
            for pattern, codes in self.per_file_ignores.items():
                if _glob_match(rel, pattern) and _matches(code, codes):
                    return False
        return True

    def severity_for(self, code: str, default: Severity) -> Severity:
        return self.severity.get(code, default)

    def _relative(self, path: str) -> str:
        p = Path(path)
        if self.root is not None:
            try:
                return p.resolve().relative_to(self.root.resolve()).as_posix()
            except ValueError:
                pass
        return p.as_posix()

    # -- merging -------------------------------------------------------------
    def merged(self, overrides: dict[str, Any] | None) -> "Config":
        """Apply editor settings (initializationOptions / workspace/configuration)."""
        if not overrides:
            return self
        return replace(self, **_parse_table(overrides, origin="settings", partial=True))


def _matches(code: str, prefixes: tuple[str, ...]) -> bool:
    return any(p == "ALL" or code.startswith(p) for p in prefixes)


def _glob_match(rel: str, pattern: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(rel, f"*/{pattern}")


def _codes(value: Any, key: str, origin: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v for v in value.replace(" ", "").split(",") if v]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{origin}: `{key}` must be a list of rule codes")
    return tuple(v.strip().upper() if v.strip().lower() != "syntax-error" else "syntax-error" for v in value)


def _parse_table(table: dict[str, Any], origin: str, partial: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    norm = {str(k).replace("_", "-"): v for k, v in table.items()}
    overfit = norm.pop("overfit", None)
    if isinstance(overfit, dict):
        for k, v in overfit.items():
            norm[f"overfit-{k}"] = v
    for key, value in norm.items():
        if value is None:
            continue
        if key == "select":
            out["select"] = _codes(value, key, origin) if value != [] or not partial else None
        elif key == "ignore":
            out["ignore"] = _codes(value, key, origin)
        elif key in ("extend-select",):
            out.setdefault("extend_select", _codes(value, key, origin))
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{origin}: `per-file-ignores` must be a table of glob = [codes]")
            out["per_file_ignores"] = {str(k): _codes(v, key, origin) for k, v in value.items()}
        elif key == "severity":
            if not isinstance(value, dict):
                raise ConfigError(f"{origin}: `severity` must be a table of CODE = \"error|warning|information|hint\"")
            sev: dict[str, Severity] = {}
            for code, level in value.items():
                try:
                    sev[str(code).upper()] = Severity(_SEVERITY_ALIASES.get(str(level).lower(), str(level).lower()))
                except ValueError:
                    raise ConfigError(f"{origin}: severity of {code} must be error, warning, information or hint, not {level!r}") from None
            out["severity"] = sev
        elif key == "exclude":
            out["exclude"] = tuple(str(v) for v in value)
        elif key == "extend-exclude":
            out["extend_exclude"] = tuple(str(v) for v in value)
        elif key == "interpreter":
            if isinstance(value, list):
                value = value[0] if value else None
            out["interpreter"] = str(value) if value else None
        elif key == "extra-paths":
            out["extra_paths"] = tuple(str(v) for v in ([value] if isinstance(value, str) else value))
        elif key == "overfit-steps":
            out["overfit_steps"] = int(value)
        elif key == "overfit-timeout":
            out["overfit_timeout"] = float(value)
        elif not partial:
            raise ConfigError(f"{origin}: unknown option `{key}` in [tool.torchlint]")
    extend = out.pop("extend_select", None)
    if extend:
        out["select"] = tuple(out.get("select") or ()) + extend if out.get("select") else None
    return out


_SEVERITY_ALIASES = {"info": "information", "warn": "warning", "err": "error"}


def find_pyproject(start: Path) -> Path | None:
    start = start.resolve()
    for d in [start, *start.parents] if start.is_dir() else [start.parent, *start.parent.parents]:
        candidate = d / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            if "torchlint" in data.get("tool", {}):
                return candidate
    return None


def load_config(start: Path | str | None = None, explicit: Path | str | None = None) -> Config:
    """Read `[tool.torchlint]` from `explicit`, or the nearest pyproject.toml above `start`."""
    path = Path(explicit) if explicit else find_pyproject(Path(start or "."))
    if path is None:
        return Config(root=Path(start).resolve() if start and Path(start).is_dir() else None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None
    table = data.get("tool", {}).get("torchlint", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.torchlint] must be a table")
    return Config(root=path.parent, **_parse_table(table, origin=str(path)))

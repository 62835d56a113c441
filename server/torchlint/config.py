"""Configuration: `[tool.torchlint]` in pyproject.toml merged with editor settings.

One object answers every "is this code on here, and how loud?" question, so the
CLI and the language server cannot disagree.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .analysis.findings import Severity
from .codes import NOT_ANALYSED, SYNTAX_ERROR

DEFAULT_EXCLUDE = (
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    "__pycache__",
    "node_modules",
    "build",
    "dist",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "site-packages",
    ".eggs",
    ".ipynb_checkpoints",  # Jupyter's autosaved copies of the notebooks beside them
)

DEFAULT_INCLUDE = ("*.py", "*.ipynb")


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
    include: tuple[str, ...] = DEFAULT_INCLUDE  # file patterns a directory walk picks up (ruff's `include`)
    extend_include: tuple[str, ...] = ()
    interpreter: str | None = None
    extra_paths: tuple[str, ...] = ()  # more import roots (like pyright's extraPaths)
    overfit_steps: int | None = None
    overfit_timeout: float | None = None
    root: Path | None = None  # directory holding the pyproject.toml (per-file-ignores are relative to it)
    warnings: tuple[str, ...] = ()  # configuration that was read but not applied, and why

    # -- questions -----------------------------------------------------------
    def is_enabled(self, code: str, path: str | None = None) -> bool:
        return code in self.enabled_codes((code,), path)

    def enabled_codes(self, codes: Iterable[str], path: str | None = None) -> frozenset[str]:
        """Those of `codes` that are on for `path`: `syntax-error` always, TL001 whatever
        `select` says (see codes.py), the others as select/ignore/per-file-ignores say."""
        ignored = self.ignore
        if path is not None and self.per_file_ignores:
            rel = self._relative(path)
            for pattern, more in self.per_file_ignores.items():
                if _glob_match(rel, pattern):
                    ignored += more
        return frozenset(
            code
            for code in codes
            if code == SYNTAX_ERROR
            or (
                (code == NOT_ANALYSED or self.select is None or _matches(code, self.select))
                and not _matches(code, ignored)
            )
        )

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
    def merged(self, overrides: dict[str, Any] | None, origin: str = "settings") -> Config:
        """Apply editor settings (initializationOptions / workspace/configuration) or CLI flags."""
        if not overrides:
            return self
        fields, warnings = _parse_table(overrides, origin=origin, partial=True)
        return replace(self, **fields, warnings=self.warnings + tuple(warnings))


def _matches(code: str, prefixes: tuple[str, ...]) -> bool:
    return any(p == "ALL" or code.startswith(p) for p in prefixes)


def _glob_match(rel: str, pattern: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(rel, f"*/{pattern}")


_CODE = re.compile(rf"^(ALL|TLR?\d{{0,3}}|{re.escape(SYNTAX_ERROR)})$")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if not isinstance(value, (dict, list)) else type(value).__name__


def _problem(origin: str, key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{origin}: `{key}`: expected {expected}, got {_describe(value)}")


def _code(spelled: str) -> str:
    """A code as the user may spell it (`tl101`, ` TL1`, `Syntax-Error`) as findings carry it."""
    spelled = spelled.strip()
    return SYNTAX_ERROR if spelled.lower() == SYNTAX_ERROR else spelled.upper()


def _codes(value: Any, key: str, origin: str, csv: bool = True) -> tuple[str, ...]:
    if isinstance(value, str) and csv:
        value = [v for v in value.replace(" ", "").split(",") if v]  # CLI and editor settings: "TL1,TL201"
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _problem(origin, key, 'a list of rule codes such as ["TL101", "TL2"]', value)
    codes = tuple(_code(v) for v in value)
    bad = [c for c in codes if not _CODE.match(c)]
    if bad:
        raise ConfigError(
            f"{origin}: `{key}`: unknown rule code {bad[0]!r} (codes look like TL101, or a prefix such as TL2)"
        )
    return codes


def _strings(value: Any, key: str, origin: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _problem(origin, key, "a list of strings", value)
    return tuple(value)


def _positive(value: Any, key: str, origin: str, kind: type) -> int | float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok:
        raise _problem(origin, key, "a positive " + ("integer" if kind is int else "number"), value)
    return kind(value)


# Keys of [tool.torchlint] and of the editor settings; dashes and underscores are the same.
KNOWN_KEYS = (
    "select",
    "extend-select",
    "ignore",
    "per-file-ignores",
    "severity",
    "exclude",
    "extend-exclude",
    "include",
    "extend-include",
    "extra-paths",
    "overfit",
)
INTERPRETER_IGNORED = (
    "`interpreter` in pyproject.toml is ignored: torchlint never runs a program named by the files it "
    "checks; pass `--python PATH`, set TORCHLINT_PYTHON, or set `interpreter` in your editor's user settings"
)


def _parse_table(table: Any, origin: str, partial: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Validate one layer of configuration: (the Config fields it sets, warnings).

    `origin` names the layer in messages ("path/pyproject.toml" or "settings"). Files raise
    ConfigError on anything malformed; editor settings (`partial`) also carry keys that are not
    ours, which are left alone."""
    from_file = not partial
    if not isinstance(table, dict):
        raise _problem(origin, "tool.torchlint", "a table", table)
    out: dict[str, Any] = {}
    warnings: list[str] = []
    for raw_key, value in table.items():
        key = str(raw_key).replace("_", "-")
        if value is None and partial:
            continue
        if key == "select":
            out["select"] = _codes(value, key, origin, partial) if value != [] or from_file else None
        elif key == "extend-select":
            out["extend_select"] = _codes(value, key, origin, partial)
        elif key == "ignore":
            out["ignore"] = _codes(value, key, origin, partial)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise _problem(origin, key, "a table of glob = [codes]", value)
            out["per_file_ignores"] = {str(k): _codes(v, f"{key}.{k}", origin, partial) for k, v in value.items()}
        elif key == "severity":
            out["severity"] = _severities(value, origin)
        elif key in ("exclude", "extend-exclude", "include", "extend-include", "extra-paths"):
            out[key.replace("-", "_")] = _strings(value, key, origin)
        elif key == "interpreter":
            if from_file:  # a file in the checked tree must never choose what runs
                warnings.append(f"{origin}: {INTERPRETER_IGNORED}")
                continue
            if isinstance(value, list):  # VS Code's python.interpreterPath style: [exe, *args]
                value = value[0] if value else None
            if value is not None and not isinstance(value, str):
                raise _problem(origin, key, "the path of a Python executable", value)
            out["interpreter"] = value or None
        elif key == "overfit":
            if not isinstance(value, dict):
                raise _problem(origin, key, "a table such as {steps = 100, timeout = 300}", value)
            for sub, v in value.items():
                if v is None and partial:
                    continue
                if sub == "steps":
                    out["overfit_steps"] = _positive(v, "overfit.steps", origin, int)
                elif sub == "timeout":
                    out["overfit_timeout"] = _positive(v, "overfit.timeout", origin, float)
                elif from_file:
                    raise ConfigError(f"{origin}: unknown option `overfit.{sub}` (known: steps, timeout)")
        elif from_file:
            raise ConfigError(
                f"{origin}: unknown option `{raw_key}` in [tool.torchlint] (known: {', '.join(KNOWN_KEYS)})"
            )
    extend = out.pop("extend_select", None)
    if extend:
        out["select"] = tuple(out.get("select") or ()) + extend if out.get("select") else None
    return out, warnings


def _severities(value: Any, origin: str) -> dict[str, Severity]:
    if not isinstance(value, dict):
        raise _problem(origin, "severity", 'a table of CODE = "error|warning|information|hint"', value)
    sev: dict[str, Severity] = {}
    for code, level in value.items():
        name = _SEVERITY_ALIASES.get(str(level).lower(), str(level).lower()) if isinstance(level, str) else None
        try:
            sev[_code(str(code))] = Severity(name)
        except ValueError:
            raise _problem(origin, f"severity.{code}", "one of error, warning, information, hint", level) from None
    return sev


_SEVERITY_ALIASES = {"info": "information", "warn": "warning", "err": "error"}


INTERPRETER_ENV = "TORCHLINT_PYTHON"


def user_interpreter(explicit: str | None = None) -> str | None:
    """The Python that Jedi may run to learn the user's packages: only ever what the user chose
    (a `--python` flag or editor user setting, else $TORCHLINT_PYTHON), never a file in the
    checked tree. None: Jedi's default ($VIRTUAL_ENV, $CONDA_PREFIX, else torchlint's own)."""
    return explicit or os.environ.get(INTERPRETER_ENV) or None


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml above `start` with a [tool.torchlint] table. One that does not
    parse counts when it mentions torchlint: its error is then the user's to see, not to skip."""
    start = start.resolve()
    for d in [start, *start.parents] if start.is_dir() else [start.parent, *start.parent.parents]:
        candidate = d / "pyproject.toml"
        if not candidate.is_file():
            continue
        try:
            text = candidate.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "torchlint" not in text:
            continue
        import tomllib  # only for a file that names torchlint (its import is ~15 ms of a run)

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return candidate
        tool = data.get("tool")
        if not isinstance(tool, dict) or "torchlint" in tool:
            return candidate
    return None


def load_config(start: Path | str | None = None, explicit: Path | str | None = None) -> Config:
    """Read `[tool.torchlint]` from `explicit`, or the nearest pyproject.toml above `start`.

    Raises ConfigError with one line naming the file, the key and what was expected."""
    path = Path(explicit) if explicit else find_pyproject(Path(start or "."))
    if path is None:
        return Config(root=Path(start).resolve() if start and Path(start).is_dir() else None)
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise _problem(str(path), "tool", "a table", tool)
    fields, warnings = _parse_table(tool.get("torchlint", {}), origin=str(path))
    return Config(root=path.parent, warnings=tuple(warnings), **fields)

"""Editor settings: `initializationOptions` and the `torchlint` configuration section.

Both carry the same keys as `[tool.torchlint]` (select, ignore, severity,
interpreter, per-file-ignores, overfit {steps, timeout}); the editor wins over
pyproject.toml. A few keys only steer the server and never reach `Config`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import Config, ConfigError, load_config, user_interpreter

SECTION = "torchlint"
DEFAULT_DEBOUNCE = 0.150  # seconds between the last keystroke and analysis
_SERVER_ONLY = {
    "debounce",
    "debounceMs",
    "debounce-ms",
    "debounce_ms",
    "trace",
    "enable",
    "path",
    "args",
    "workspaceTrusted",
    "clientOverfitUi",
}


def section(obj: Any) -> dict[str, Any]:
    """Accept `{"torchlint": {...}}` as well as the section itself."""
    if isinstance(obj, dict):
        inner = obj.get(SECTION)
        if isinstance(inner, dict):
            return inner
        return obj
    return {}


@dataclass
class ServerOptions:
    debounce: float = DEFAULT_DEBOUNCE

    def update(self, settings: dict[str, Any]) -> None:
        for key in ("debounceMs", "debounce-ms", "debounce_ms", "debounce"):
            if key in settings:
                try:
                    self.debounce = max(float(settings[key]), 0.0) / 1000.0
                except (TypeError, ValueError):
                    pass
                return


def engine_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in _SERVER_ONLY}


def build_config(root: Path | None, *layers: dict[str, Any], trusted: bool = True) -> tuple[Config, list[str]]:
    """pyproject.toml under `root`, then each settings layer; problems are returned, not raised
    (a broken pyproject.toml gives the defaults, a broken layer is skipped).

    The interpreter Jedi may run comes from the editor's settings only in a trusted workspace
    (in VS Code, workspace settings are files of the workspace), else from $TORCHLINT_PYTHON."""
    problems: list[str] = []
    try:
        config = load_config(root) if root else Config()
    except ConfigError as exc:
        problems.append(f"{exc} (using the defaults)")
        config = Config(root=root)
    for layer in layers:
        settings = engine_settings(layer)
        if not trusted:
            settings.pop("interpreter", None)
        try:
            config = config.merged(settings)
        except (ConfigError, TypeError, ValueError) as exc:
            problems.append(f"torchlint settings: {exc}")
    problems.extend(config.warnings)
    return replace(config, interpreter=user_interpreter(config.interpreter)), problems


def overfit_settings(config: Config, client_ui: bool = False) -> dict[str, Any]:
    """What the overfit command needs (`settings_getter()` of lsp/overfit.py). `client_ui`: the
    client shows the result itself (the VS Code extension), so the server sends no message."""
    return {
        "interpreter": config.interpreter,
        "overfit": {"steps": config.overfit_steps, "timeout": config.overfit_timeout},
        "clientOverfitUi": client_ui,
    }

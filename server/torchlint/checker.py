"""The state the pipeline runs against: the configuration and the workspace (what other files
say). The editor and the CLI both check files through a `Checker`."""

from __future__ import annotations

from pathlib import Path

from .analysis.findings import Finding
from .analysis.workspace import Workspace
from .config import Config
from .pipeline import FileReport, configure_unread, lint

__all__ = ["Checker", "FileReport"]


class Checker:
    """Holds the workspace state; not thread-safe (use one analysis thread)."""

    def __init__(
        self,
        config: Config | None = None,
        root: Path | str | None = None,
        workspace: Workspace | None = None,
        incremental: bool = False,
    ):
        """`incremental`: the editor path, where each file is analysed again after every edit
        and the next analysis re-uses what the edit cannot have changed."""
        self.config = config or Config()
        self.incremental = incremental
        self.workspace = workspace or Workspace(
            root or self.config.root, self.config.interpreter, extra_paths=self.config.extra_paths
        )

    def update_config(self, config: Config) -> None:
        if (config.interpreter, config.extra_paths) != (self.config.interpreter, self.config.extra_paths):
            self.workspace = Workspace(
                self.workspace.root, config.interpreter, self.workspace.use_jedi, config.extra_paths
            )
        self.config = config

    def set_overlay(self, path: str, text: str | None) -> None:
        """The editor's text of `path` (None: the file on disk again)."""
        self.workspace.set_overlay(path, text)

    def invalidate(self, path: str) -> None:
        self.workspace.invalidate(path)

    def dependents(self, path: str) -> set[str]:
        return self.workspace.dependents(path)

    def check(self, path: str, text: str) -> list[Finding]:
        return self.check_file(path, text).findings

    def check_file(self, path: str, text: str) -> FileReport:
        return lint(path, text, self.workspace, self.config, self.incremental)

    def unread(self, path: str, notes: list[Finding]) -> list[Finding]:
        """The notes about a file that was never analysed (it could not be read), configured."""
        return configure_unread(notes, self.config, path)

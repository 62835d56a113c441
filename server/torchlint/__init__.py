"""torchlint: find silent PyTorch training bugs (language server, CLI, overfit check)."""

__version__ = "0.1.0"

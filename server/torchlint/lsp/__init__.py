"""The language server: LSP over stdio/TCP on top of `torchlint.checker` (pygls 2)."""

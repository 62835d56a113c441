"""Editor-agnostic analysis: source text in, findings out. Never imports pygls."""

"""Exits before training (e.g. a missing config)."""
import sys

import torch

print("config not found", file=sys.stderr)
sys.exit(3)

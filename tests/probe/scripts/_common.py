"""Shared data for the fixture scripts (imported from the script directory, like user code)."""
import torch
from torch.utils.data import DataLoader, TensorDataset


def classification_loader(n=256, features=20, classes=5, batch_size=32, **kwargs):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, features, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, **kwargs)

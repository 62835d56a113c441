"""Builds a new random batch by hand every step: the probe freezes it by replay (PASS)."""
import torch
from torch import nn

model = nn.Linear(20, 5)
opt = torch.optim.Adam(model.parameters(), lr=0.1)
for step in range(100):
    xb, yb = torch.randn(8, 20), torch.randint(0, 5, (8,))
    opt.zero_grad()
    nn.functional.cross_entropy(model(xb), yb).backward()
    opt.step()

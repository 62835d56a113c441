"""Gradient accumulation over 4 micro-batches, loss divided by 4: not TLR07, real loss recorded."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)
ACCUM = 4
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
criterion = nn.CrossEntropyLoss()
loader = classification_loader()
for epoch in range(200):
    for i, (xb, yb) in enumerate(loader):
        loss = criterion(model(xb), yb) / ACCUM
        loss.backward()
        if (i + 1) % ACCUM == 0:
            opt.step()
            opt.zero_grad()

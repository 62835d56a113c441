"""Validation under no_grad without model.eval(): Dropout stays active while evaluating (TLR06)."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 5))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
train_loader = classification_loader()
val_loader = classification_loader(n=64)
for epoch in range(100):
    model.train()
    for xb, yb in train_loader:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
    with torch.no_grad():  # BUG: no model.eval()
        val = sum(nn.functional.cross_entropy(model(xb), yb).item() for xb, yb in val_loader)

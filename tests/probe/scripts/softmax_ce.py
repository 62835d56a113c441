"""Probabilities fed to CrossEntropyLoss: the loss cannot reach ~0 (TLR01)."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 10), nn.Softmax(dim=1))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
criterion = nn.CrossEntropyLoss()
loader = classification_loader(classes=10)
for epoch in range(100):
    for xb, yb in loader:
        opt.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        opt.step()

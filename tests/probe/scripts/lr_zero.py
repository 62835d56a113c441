"""Learning rate 0: gradients flow but nothing changes (TLR05, FAIL)."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
opt = torch.optim.SGD(model.parameters(), lr=0.0)
criterion = nn.CrossEntropyLoss()
loader = classification_loader()
for epoch in range(100):
    for xb, yb in loader:
        opt.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        opt.step()

"""Last layer initialised with huge weights: initial loss far above ln(C) (TLR08)."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
with torch.no_grad():
    model[2].weight.mul_(50.0)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
loader = classification_loader()
for epoch in range(100):
    for xb, yb in loader:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()

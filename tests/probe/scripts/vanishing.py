"""A deep stack of sigmoids: the first layer's gradient vanishes (TLR09)."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)
layers = [nn.Linear(20, 32), nn.Sigmoid()]
loader = classification_loader()
for _ in range(14):
    layers += [nn.Linear(32, 32), nn.Sigmoid()]
model = nn.Sequential(*layers, nn.Linear(32, 5))
opt = torch.optim.SGD(model.parameters(), lr=1e-2)
for epoch in range(100):
    for xb, yb in loader:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()

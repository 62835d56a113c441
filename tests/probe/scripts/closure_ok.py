"""LBFGS: forward and backward run inside optimizer.step(closure), many times per step."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 64), nn.Tanh(), nn.Linear(64, 5))
opt = torch.optim.LBFGS(model.parameters(), max_iter=4, line_search_fn="strong_wolfe")
criterion = nn.CrossEntropyLoss()
loader = classification_loader()
for epoch in range(100):
    for xb, yb in loader:
        def closure():
            opt.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            return loss
        opt.step(closure)

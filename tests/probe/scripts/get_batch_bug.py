"""Regression on batches indexed by hand, with the target one dimension short: MSELoss
broadcasts (32, 1) against (32,) and PyTorch warns; the loss cannot reach zero."""
import torch
from torch import nn

torch.manual_seed(0)
X = torch.randn(512, 10)
Y = X @ torch.randn(10) + 0.1 * torch.randn(512)
model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
criterion = nn.MSELoss()
for it in range(1000):
    i = (it * 32) % 480
    xb, yb = X[i:i + 32], Y[i:i + 32]
    opt.zero_grad()
    loss = criterion(model(xb), yb)
    loss.backward()
    opt.step()

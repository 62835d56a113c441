"""Hidden layers kept in a plain Python list: not in model.parameters() (TLR04)."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(20, 32)
        self.hidden = [nn.Linear(32, 32), nn.Linear(32, 32)]  # BUG: plain list
        self.out = nn.Linear(32, 5)

    def forward(self, x):
        x = torch.relu(self.inp(x))
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x)


model = Net()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
loader = classification_loader()
for xb, yb in loader:
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()
for epoch in range(100):
    for xb, yb in loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()

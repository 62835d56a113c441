"""A registered layer that forward never uses: its parameters never get a gradient (TLR03)."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.skip = nn.Linear(64, 64)  # never used
        self.fc2 = nn.Linear(64, 5)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


model = Net()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
loader = classification_loader()
for epoch in range(100):
    for xb, yb in loader:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()

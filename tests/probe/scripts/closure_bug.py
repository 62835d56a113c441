"""A closure step (SGD.step(closure)) with two seeded bugs the closure used to hide: hidden
layers in a plain list (TLR04) and the model left in eval mode by a helper (TLR06)."""
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(20, 32)
        self.hidden = [nn.Linear(32, 32), nn.Linear(32, 32)]
        self.drop = nn.Dropout(0.2)
        self.out = nn.Linear(32, 5)

    def forward(self, x):
        x = torch.relu(self.inp(x))
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(self.drop(x))


def check(model):
    model.eval()  # never switched back


model = Net()
check(model)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
loader = classification_loader()
for epoch in range(100):
    for xb, yb in loader:
        def closure():
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            return loss
        opt.step(closure)

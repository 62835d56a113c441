"""DataLoader with num_workers=2: workers must not outlive the probe."""
import torch
from torch import nn
from _common import classification_loader


def main():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loader = classification_loader(num_workers=2)
    for epoch in range(100):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()


if __name__ == "__main__":
    main()

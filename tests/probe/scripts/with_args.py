"""Reads its own command line with argparse; the probe passes what follows `--`."""
import argparse

import torch
from torch import nn
from _common import classification_loader

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--hidden", type=int, default=16)
parser.add_argument("--tag", default="none")
args = parser.parse_args()
print(f"ARGS lr={args.lr} hidden={args.hidden} tag={args.tag}")

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 5))
opt = torch.optim.Adam(model.parameters(), lr=args.lr)
loader = classification_loader()
for epoch in range(100):
    for xb, yb in loader:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()

"""A small MNIST-style training script with the classic silent bugs.

`torchlint check examples/` reports each of them; examples/clean_train.py is the same
script done right.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from evaluation import evaluate


class Net(nn.Module):
    def __init__(self, hidden=(256, 128)):
        super().__init__()
        sizes = (784, *hidden)
        self.layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]
        self.dropout = nn.Dropout(0.25)
        self.head = nn.Linear(sizes[-1], 10)

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.layers:
            x = self.dropout(F.relu(layer(x)))
        return F.softmax(self.head(x), dim=1)


def main(epochs=3, device="cpu"):
    train_set = TensorDataset(torch.randn(512, 1, 28, 28), torch.randint(0, 10, (512,)))
    test_set = TensorDataset(torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,)))
    train_loader = DataLoader(train_set, batch_size=64)
    test_loader = DataLoader(test_set, batch_size=256)

    model = Net().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()

    model.train()
    for epoch in range(epochs):
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
        accuracy = evaluate(model, test_loader, device)
        print(f"epoch {epoch}: loss {loss.item():.3f} accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()

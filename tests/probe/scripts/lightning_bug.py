"""Lightning with two seeded bugs: a block kept in a plain list (TLR04) and a helper called in
training_step that switches the module to eval mode (TLR06)."""
import pytorch_lightning as pl
import torch
from torch import nn
from _common import classification_loader

torch.manual_seed(0)


class Classifier(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(20, 64)
        self.blocks = [nn.Linear(64, 64)]
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(64, 5)

    def forward(self, x):
        x = torch.relu(self.inp(x))
        for b in self.blocks:
            x = torch.relu(b(x))
        return self.head(self.drop(x))

    def log_weights(self):
        self.eval()  # meant for inspection; training mode is never restored

    def training_step(self, batch, batch_idx):
        self.log_weights()
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)


trainer = pl.Trainer(max_epochs=100, accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False)
trainer.fit(Classifier(), classification_loader())

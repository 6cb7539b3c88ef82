"""A PyTorch script that opts into ForgeML's tensor hook (forgeml.training.hook.DebugHook).

Test-only knobs: --scale multiplies the loss before backward (1e-12: vanishing gradients),
--nan-at makes that epoch's loss NaN (an exploding tensor).
"""

import argparse
import glob
import os

import pandas as pd
import torch
from torch import nn

from forgeml.training.hook import DebugHook

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--scale", type=float, default=1.0)
parser.add_argument("--nan-at", type=int, default=-1)
args, _ = parser.parse_known_args()
torch.manual_seed(0)
torch.set_num_threads(1)


def load(folder):
    frame = pd.concat([pd.read_parquet(p) for p in sorted(glob.glob(os.path.join(folder, "*.parquet")))])
    X = torch.tensor(frame.drop(columns=["y", "amount"], errors="ignore").to_numpy(), dtype=torch.float32)
    return X, torch.tensor(frame["y"].to_numpy(), dtype=torch.long)


X, y = load(os.environ["SM_CHANNEL_TRAIN"])
Xv, yv = load(os.environ["SM_CHANNEL_VALIDATION"])
model = nn.Sequential(nn.Linear(X.shape[1], 8), nn.ReLU(), nn.Linear(8, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
hook = DebugHook(model, include=("weight",))
for epoch in range(args.epochs):
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(X), y)
    if epoch == args.nan_at:
        loss = loss * float("nan")
    (loss * args.scale).backward()
    with torch.no_grad():
        val_loss = nn.functional.cross_entropy(model(Xv), yv)
    hook.record(loss=loss, val_loss=val_loss)
    opt.step()

"""A SageMaker-style PyTorch training script, unchanged from what runs on SageMaker.

Reads the train/validation channels, trains a tiny MLP classifier on the discovered device, prints
per-epoch metrics, checkpoints every epoch to the checkpoint dir (resuming from it), and saves the
model to SM_MODEL_DIR with torch.export. Test-only knobs: --pause-after (sleep after that epoch's
checkpoint on a fresh start, to be killed), --fail-at (raise in that epoch), --save (0: no model).
"""

import argparse
import glob
import json
import os
import time

import pandas as pd
import torch
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--hidden", type=int, default=16)
parser.add_argument("--target", type=str, default="y")
parser.add_argument("--pause-after", type=int, default=-1)
parser.add_argument("--fail-at", type=int, default=-1)
parser.add_argument("--save", type=int, default=1)
parser.add_argument("--model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
parser.add_argument("--validation", type=str, default=os.environ.get("SM_CHANNEL_VALIDATION"))
args, _ = parser.parse_known_args()

hosts = json.loads(os.environ["SM_HOSTS"])
current = os.environ["SM_CURRENT_HOST"]
gpus = int(os.environ["SM_NUM_GPUS"])
device = torch.device("cuda" if gpus > 0 and torch.cuda.is_available() else "cpu")
print(f"host {current} of {hosts}, {gpus} gpus, device={device.type}", flush=True)
torch.manual_seed(int(os.environ.get("FORGEML_SEED", "0")))
torch.set_num_threads(1)


def load(folder):
    frame = pd.concat([pd.read_parquet(p) for p in sorted(glob.glob(os.path.join(folder, "*.parquet")))])
    X = torch.tensor(frame.drop(columns=[args.target, "amount"], errors="ignore").to_numpy(), dtype=torch.float32)
    return X.to(device), torch.tensor(frame[args.target].to_numpy(), dtype=torch.long).to(device)


X, y = load(args.train)
Xv, yv = load(args.validation) if args.validation else (X, y)
model = nn.Sequential(nn.Linear(X.shape[1], args.hidden), nn.ReLU(), nn.Linear(args.hidden, 2)).to(device)
opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
ckpt = os.path.join(os.environ["SM_CHECKPOINT_DIR"], "checkpoint.pt")
start = 0
if os.path.exists(ckpt):
    state = torch.load(ckpt, map_location=device)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    start = state["epoch"] + 1
    print(f"resuming from epoch {start}", flush=True)
resumed = start > 0
for epoch in range(start, args.epochs):
    if epoch == args.fail_at:
        raise RuntimeError(f"CUDA error: out of memory at epoch {epoch}")
    model.train()
    for i in range(0, len(X), 50):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(X[i : i + 50]), y[i : i + 50])
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        train_loss = nn.functional.cross_entropy(model(X), y).item()
        accuracy = (model(Xv).argmax(1) == yv).float().mean().item()
    print(f"epoch {epoch} train_loss={train_loss:.6f} val_accuracy={accuracy:.4f}", flush=True)
    tmp = ckpt + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch}, tmp)
    os.replace(tmp, ckpt)
    if epoch == args.pause_after and not resumed:
        time.sleep(60)
if args.save:
    program = torch.export.export(model.cpu().eval(), (X[:2].cpu(),), dynamic_shapes=({0: torch.export.Dim("rows")},))
    torch.export.save(program, os.path.join(args.model_dir, "model.pt2"))
print("done", flush=True)

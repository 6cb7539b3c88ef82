"""A PyTorch-style training loop (numpy only) that logs loss and gradient statistics per step.

With --explode the gradients of layer fc2 become NaN at step 3; with --vanish those of fc1 shrink
towards zero.
"""

import argparse
import time

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=8)
parser.add_argument("--explode", type=int, default=0)
parser.add_argument("--vanish", type=int, default=0)
parser.add_argument("--sleep", type=float, default=0.0)
args, _ = parser.parse_known_args()

rng = np.random.default_rng(0)
for step in range(args.steps):
    loss = 1.0 / (step + 1)
    fc1 = float(np.abs(rng.normal(size=100)).mean()) * (1e-9 if args.vanish and step >= 2 else 1.0)
    fc2 = float("nan") if args.explode and step >= 3 else float(np.abs(rng.normal(size=100)).mean())
    print(f"step={step} loss={loss:.6f} grad_fc1={fc1:.6g} grad_fc2={fc2}", flush=True)
    time.sleep(args.sleep)

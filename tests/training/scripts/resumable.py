"""A checkpointing training loop: resumes from SM_CHECKPOINT_DIR after an interruption."""

import argparse
import json
import os
import time

parser = argparse.ArgumentParser()
parser.add_argument("--iterations", type=int, default=12)
parser.add_argument("--sleep", type=float, default=0.25)
args, _ = parser.parse_known_args()

state_file = os.path.join(os.environ["SM_CHECKPOINT_DIR"], "state.json")
start, weight = 0, 0.0
if os.path.exists(state_file):
    with open(state_file) as fh:
        saved = json.load(fh)
    start, weight = saved["iteration"], saved["weight"]
print(f"starting at iteration {start}", flush=True)
for i in range(start, args.iterations):
    time.sleep(args.sleep)
    weight += 1.0
    print(f"iteration {i} loss={1.0 / (i + 1):.6f}", flush=True)
    tmp = state_file + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"iteration": i + 1, "weight": weight}, fh)
    os.replace(tmp, state_file)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "weights.json"), "w") as fh:
    json.dump({"weight": weight}, fh)
print("done", flush=True)

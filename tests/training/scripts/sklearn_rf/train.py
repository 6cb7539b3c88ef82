"""An unmodified SageMaker script-mode training script (scikit-learn random forest).

Reads CSV files from the train and test channels, trains, prints the test accuracy (picked up by
the job's metric definitions) and saves the model with joblib into SM_MODEL_DIR.
"""

import argparse
import glob
import json
import os

import joblib
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score


def read_channel(path):
    files = glob.glob(os.path.join(path, "*.csv"))
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-estimators", type=int, default=10)
    parser.add_argument("--min-samples-leaf", type=int, default=3)
    parser.add_argument("--target", type=str, default="y")
    parser.add_argument("--model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--test", type=str, default=os.environ.get("SM_CHANNEL_TEST"))
    args, _ = parser.parse_known_args()

    train = read_channel(args.train)
    test = read_channel(args.test)
    features = [c for c in train.columns if c != args.target]
    print(f"training on {len(train)} rows, {len(features)} features")
    model = RandomForestClassifier(
        n_estimators=args.n_estimators, min_samples_leaf=args.min_samples_leaf,
        random_state=int(os.environ.get("FORGEML_SEED", "0")),
    )
    model.fit(train[features], train[args.target])
    for name, frame in (("train", train), ("test", test)):
        acc = accuracy_score(frame[args.target], model.predict(frame[features]))
        print(f"{name} accuracy: {acc:.6f}")
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "environment.json"), "w") as fh:
        json.dump({k: v for k, v in os.environ.items() if k.startswith("SM_")}, fh)

"""Seeded benchmark data: a 1,000,000-row feature table (10 features) and 1,000,000 label rows."""

from __future__ import annotations

from pathlib import Path

WORK = Path(__file__).resolve().parents[1] / ".work" / "features"
N_FEATURES_ROWS = 1_000_000
N_LABELS = 1_000_000
N_ENTITIES = 200_000
N_FEATURES = 10
START = 1_735_689_600  # 2025-01-01T00:00:00Z


def make(n_rows: int = N_FEATURES_ROWS, n_labels: int = N_LABELS, seed: int = 42) -> tuple[Path, Path]:
    """Write ``features.parquet`` and ``labels.parquet`` under the work folder (once)."""
    import numpy as np
    import pandas as pd

    WORK.mkdir(parents=True, exist_ok=True)
    features, labels = WORK / f"features-{n_rows}.parquet", WORK / f"labels-{n_labels}.parquet"
    if features.exists() and labels.exists():
        return features, labels
    rng = np.random.default_rng(seed)
    entities = min(N_ENTITIES, n_rows)
    ids = rng.integers(0, entities, n_rows)
    seconds = rng.choice(365 * 86400, size=n_rows, replace=False)  # unique event times: no ties
    frame = pd.DataFrame({"entity_id": ids.astype("int64"),
                          "event_timestamp": pd.to_datetime(START + seconds, unit="s", utc=True).astype("datetime64[us, UTC]")})  # fmt: skip
    for i in range(N_FEATURES):
        frame[f"f{i}"] = rng.random(n_rows)
    frame.to_parquet(features, index=False)
    label_ids = rng.integers(0, int(entities * 1.1), n_labels)  # ~9 % of ids never seen: must keep their rows
    label_t = pd.to_datetime(START + rng.integers(0, 395 * 86400, n_labels), unit="s", utc=True).astype("datetime64[us, UTC]")
    pd.DataFrame({"entity_id": label_ids.astype("int64"), "event_timestamp": label_t,
                  "label": rng.integers(0, 2, n_labels)}).to_parquet(labels, index=False)  # fmt: skip
    return features, labels

"""The Feast side of the feature-store benchmark; runs in ``benchmarks/.work/feast-venv``.

Feast's defaults for a local repository: ``provider: local``, the ``file`` offline store
(pandas/dask over Parquet) and the ``sqlite`` online store. Prints one JSON line.

    feast-venv/bin/python feast_bench.py pit FEATURES.parquet LABELS.parquet OUT.parquet
    feast-venv/bin/python feast_bench.py online FEATURES.parquet
"""

from __future__ import annotations

import json
import random
import resource
import shutil
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

warnings.filterwarnings("ignore")
FEATURES = [f"f{i}" for i in range(10)]
WORK = Path(__file__).resolve().parents[1] / ".work" / "features"
YAML = """project: bench
registry: {repo}/registry.db
provider: local
online_store:
  type: sqlite
  path: {repo}/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _store(name: str, source_path: Path):  # type: ignore[no-untyped-def]
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.types import Float64

    repo = WORK / f"feast-repo-{name}"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(YAML.format(repo=repo))
    store = FeatureStore(repo_path=str(repo))
    entity = Entity(name="entity", join_keys=["entity_id"])
    source = FileSource(path=str(source_path), timestamp_field="event_timestamp")
    view = FeatureView(name="fv", entities=[entity], ttl=timedelta(0),
                       schema=[Field(name=f, dtype=Float64) for f in FEATURES], source=source, online=True)  # fmt: skip
    store.apply([entity, view])
    return store


def pit(features: Path, labels: Path, out: Path) -> dict:
    import pandas as pd

    store = _store("pit", features)
    entity_df = pd.read_parquet(labels)
    entity_df["r"] = range(len(entity_df))
    before = _peak_mb()
    t0 = time.perf_counter()
    result = store.get_historical_features(entity_df=entity_df, features=[f"fv:{f}" for f in FEATURES]).to_df()
    seconds = time.perf_counter() - t0
    result.sort_values("r").reset_index(drop=True).to_parquet(out, index=False)
    return {"seconds": round(seconds, 3), "peak_rss_mb": _peak_mb(), "rss_before_join_mb": before, "rows": len(result),
            "label_rows_dropped": len(entity_df) - len(result)}  # fmt: skip


def online(features: Path) -> dict:
    import numpy as np
    import pandas as pd

    subset = WORK / "features-online-100000.parquet"
    frame = pd.read_parquet(features).head(100_000)
    frame.to_parquet(subset, index=False)
    store = _store("online", subset)
    t0 = time.perf_counter()
    store.materialize(datetime(2024, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    materialize_s = time.perf_counter() - t0
    ids = frame["entity_id"].unique().tolist()
    rnd = random.Random(1)
    refs = [f"fv:{f}" for f in FEATURES]
    for _ in range(200):
        store.get_online_features(features=refs, entity_rows=[{"entity_id": rnd.choice(ids)}]).to_dict()

    def pct(samples: list[float]) -> dict:
        arr = np.array(samples) * 1e6
        return {"p50_us": round(float(np.percentile(arr, 50)), 1), "p99_us": round(float(np.percentile(arr, 99)), 1),
                "mean_us": round(float(arr.mean()), 1), "n": len(samples)}  # fmt: skip

    one, hundred = [], []
    for _ in range(3_000):
        rid = rnd.choice(ids)
        t0 = time.perf_counter()
        store.get_online_features(features=refs, entity_rows=[{"entity_id": rid}]).to_dict()
        one.append(time.perf_counter() - t0)
    for _ in range(300):
        rows = [{"entity_id": i} for i in rnd.sample(ids, 100)]
        t0 = time.perf_counter()
        store.get_online_features(features=refs, entity_rows=rows).to_dict()
        hundred.append(time.perf_counter() - t0)
    return {"get_1": pct(one), "get_100": pct(hundred), "records": len(ids), "materialize_seconds": round(materialize_s, 2)}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "pit":
        print(json.dumps(pit(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))))
    else:
        print(json.dumps(online(Path(sys.argv[2]))))

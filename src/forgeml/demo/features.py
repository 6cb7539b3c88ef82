"""Demo stage ``features``: loan features into the feature store, training sets back out of it.

Reads ``state["raw"]`` (dataset ``loans``), ``state["id_column"]``, ``state["time_column"]``,
``state["target"]``, ``state["train"]`` and ``state["validation"]``. Builds two feature groups
from the raw loans data (applicant attributes and loan terms), ingests them, then rebuilds the
train and validation splits as point-in-time training sets: each split's ids, application dates
and labels joined with the latest feature values known at each application date. A later
correction is pushed for a few applicants to show it does not leak into the training sets.

Writes ``state["train"]`` / ``state["validation"]`` (same columns, same order, same values as
before) and ``state["feature_groups"]`` (the group version refs).
"""

from __future__ import annotations

from typing import Any

APPLICANT = {"appinc", "married", "dep", "emp", "yjob", "self", "atotinc", "cototinc", "hexp", "liq", "rep",
             "netw", "unem", "min30", "bd", "mi", "old", "vr", "sch", "black", "hispan", "male", "white",
             "chist", "pubrec", "mortno", "mortperf", "mortlat1", "mortlat2", "thick", "occ", "multi"}  # fmt: skip


def _split_frame(ws: Any, record: Any) -> Any:
    return ws.datasets.read(record.name, record.version)


def stage(ws: Any, state: dict[str, Any], say: Any) -> None:
    import pandas as pd

    fs = ws.features
    id_col, time_col, target = state["id_column"], state["time_column"], state.get("target", "approve")
    raw = ws.datasets.read(state["raw"].name, state["raw"].version)
    splits = {key: _split_frame(ws, state[key]) for key in ("train", "validation")}
    columns = list(splits["train"].columns)
    candidates = [c for c in columns if c not in (id_col, time_col, target) and c in raw.columns]
    # a column the prepare stage changed (e.g. PII masking) stays in the entity frame as it is
    by_id = raw.set_index(id_col)
    from_store = []
    for col in candidates:
        split = pd.concat([s[[id_col, col]] for s in splits.values()])
        same = by_id.loc[split[id_col], col].reset_index(drop=True).equals(split[col].reset_index(drop=True))
        if same and str(split[col].dtype) == str(raw[col].dtype):
            from_store.append(col)
    groups = {
        "loan-applicants": [c for c in from_store if c in APPLICANT],
        "loan-terms": [c for c in from_store if c not in APPLICANT],
    }
    refs: list[str] = []
    counts: dict[str, int] = {}
    for name, feats in groups.items():
        if not feats:
            continue
        if name in {g.name for g in fs.list_groups()}:
            fs.delete_group(name)
        frame = raw[[id_col, time_col, *feats]]
        group = fs.create_group(name, record_identifier=id_col, event_time_feature=time_col, features=frame,
                                description=f"{name.replace('-', ' ')} from dataset {state['raw'].ref}",
                                offline_partition="month")  # fmt: skip
        result = fs.ingest(name, frame, batch_size=1000)
        fs.compact(name)
        ws.lineage.record(state["raw"].ref, group.ref, "ingested")
        refs.append(group.ref)
        defined = len(group.features)  # what `forgeml features ls` counts: the values plus the id and event time
        counts[name] = defined
        say(f"feature group [bold]{group.ref}[/bold]: {defined} features ({len(feats)} loan values, record id {id_col}, "
            f"event time {time_col}), {result.rows} rows in {result.batches} batches")  # fmt: skip
    # a correction recorded a day after each application must not reach the training sets
    numeric = [c for c in groups["loan-terms"] if raw[c].dtype.kind in "if"]
    if numeric:
        late = raw[[id_col, time_col]].head(5).copy()
        late[time_col] = pd.to_datetime(late[time_col]) + pd.Timedelta(days=1)
        late[numeric[0]] = raw[numeric[0]].max()
        fs.ingest("loan-terms", late)
    built = {}
    for key, split in splits.items():
        entity = split[[c for c in columns if c not in from_store]]
        selections = [f"{name}:{','.join(feats)}" for name, feats in groups.items() if feats]
        ts = fs.build_training_set(entity, selections, event_time_column=time_col)
        frame = ts.frame[columns].astype(split.dtypes.to_dict())
        if not frame.equals(split):
            raise RuntimeError(f"feature store rebuilt the {key} split with different values")
        built[key] = ws.datasets.create(
            f"loans-{key}-fs", frame, description=f"{key} split, point-in-time features from the feature store",
            source="feature-store", derived_from=[*ts.feature_groups, state[key].ref],
        )  # fmt: skip
        per_group = ", ".join(f"{n} {len(f)}" for n, f in groups.items() if f)
        say(f"{key}: [bold]{built[key].ref}[/bold] ({len(frame)} rows; {len(from_store)} feature values from the store: {per_group})")
    state["train"], state["validation"] = built["train"], built["validation"]
    state["feature_groups"] = refs
    online = fs.get_record("loan-applicants", int(raw[id_col].iloc[0])) if groups["loan-applicants"] else None
    state["summary"]["feature_store"] = {
        "feature_groups": refs,
        "features_from_store": len(from_store),
        "features_per_group": counts,  # as `forgeml features ls` counts them (with record id and event time)
        "training_sets": {k: v.ref for k, v in built.items()},
        "online_example": {k: online[k] for k in list(online)[:4]} if online else None,
        "consistent": all(fs.check_consistency(r.split("/")[1].split(":")[0])["consistent"] for r in refs),
    }

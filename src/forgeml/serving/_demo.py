"""The endpoint part of the demo's serving stage: deploy the approved model, invoke it, clean up."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from forgeml.errors import NotFoundError

ENDPOINT = "loans"


def deploy_and_invoke(ws: Any, state: dict[str, Any], say: Any, model: str, rows: int = 3) -> dict[str, Any]:
    """Deploy ``model`` (registry ``GROUP:VERSION``) as endpoint ``loans`` with data capture, send a
    few test rows as CSV and as JSON, and register a cleanup that deletes the endpoint.

    Sets ``state["lineage_root"]`` to the endpoint's reference.
    """
    from forgeml.registry.package import read_manifest

    with contextlib.suppress(NotFoundError):
        ws.endpoints.delete(ENDPOINT)  # a previous demo run in the same workspace
    t0 = time.perf_counter()
    record = ws.endpoints.create(ENDPOINT, {
        "variants": [{"name": "AllTraffic", "model": model, "workers": 1}],
        "data_capture": {"sampling_percentage": 100},
    })  # fmt: skip
    state.setdefault("cleanups", []).append(lambda: _delete(ws))
    state["lineage_root"] = record.ref
    say(f"endpoint [bold]{record.ref}[/bold] {record.status} at {record.data['url']} in {time.perf_counter() - t0:.1f}s")

    columns = read_manifest(ws.registry.download(model)).feature_names
    test = state["test"]
    sample = ws.datasets.read(test.name, test.version)[columns].head(rows)
    csv_body = sample.to_csv(header=False, index=False)
    t1 = time.perf_counter()
    as_csv = ws.endpoints.invoke(ENDPOINT, csv_body, content_type="text/csv", accept="text/csv", inference_id="demo-csv")
    csv_ms = (time.perf_counter() - t1) * 1000
    json_body = json.dumps({"instances": json.loads(sample.to_json(orient="records", date_format="iso"))})
    as_json = ws.endpoints.invoke(ENDPOINT, json_body, content_type="application/json")
    predictions = as_json.json()["predictions"]
    say(f"invoked with {len(sample)} CSV rows -> variant {as_csv.variant} ({csv_ms:.1f} ms):")
    for line in as_csv.text.strip().splitlines():
        say(f"  {line}")
    from forgeml.demo import pairs

    say(f"invoked with JSON -> {len(predictions)} prediction(s), the first: {pairs(predictions[0])}")
    return {
        "endpoint": record.ref, "url": record.data["url"], "invoked_variant": as_csv.variant,
        "csv_response": as_csv.text.strip().splitlines(), "json_predictions": predictions,
        "capture": record.data.get("capture_uri"),
    }  # fmt: skip


def _delete(ws: Any) -> None:
    with contextlib.suppress(NotFoundError):
        ws.endpoints.delete(ENDPOINT)


__all__ = ["ENDPOINT", "deploy_and_invoke"]

"""The processing job's entrypoint: import the step's callable, call it, keep what it returns.

The callable gets the step's resolved ``Inputs`` as keyword arguments (and ``outputs={name:
folder}`` when the step declares outputs). What it returns: a dict whose DataFrame values become
dataset versions (``<pipeline>-<step>-<key>``) and whose other JSON values are the step's
``Result``; any other JSON value is the ``Result`` itself. Each output folder is stored as an
artifact and read for the step's property files. All of it lands in the job's handle, where the
driver reads it once the job completed.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forgeml.core.jobs import JobContext


class StepFault(Exception):
    """Raise from a step's code to fail it with one of the retry policies' exception types
    (``Step.SERVICE_FAULT``, ``Step.THROTTLING``, ``SageMaker.JOB_INTERNAL_ERROR``, ...)."""

    def __init__(self, exception_type: str, message: str = "") -> None:
        super().__init__(f"[{exception_type}] {message}".strip())
        self.exception_type = exception_type


def _importable(module_name: str) -> bool:
    if module_name == "__main__":
        return False
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        return False


def load_callable(target: str, file: str | None) -> Any:
    """``module:qualname``, imported from ``file`` when its module is a script (``__main__``)."""
    module_name, _, qualname = target.partition(":")
    if file and not _importable(module_name):
        alias = "forgeml_pipeline_" + re.sub(r"\W", "_", Path(file).stem)
        spec = importlib.util.spec_from_file_location(alias, file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[alias] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return getattr(obj, "__wrapped_function__", obj)


def _dataset_name(pipeline: str, step: str, key: str) -> str:
    raw = f"{pipeline}-{step}-{key}".lower()
    return re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")[:63]


def run_processing(ctx: JobContext) -> None:
    import os

    import pandas as pd

    cfg = ctx.config
    os.environ.update({str(k): str(v) for k, v in (cfg.get("environment") or {}).items()})
    fn = load_callable(cfg["callable"], cfg.get("file"))
    kwargs: dict[str, Any] = dict(cfg.get("inputs") or {})
    folders: dict[str, Path] = {}
    for name in cfg.get("outputs") or []:
        folders[name] = ctx.workdir / "outputs" / name
        folders[name].mkdir(parents=True, exist_ok=True)
    if folders:
        kwargs["outputs"] = folders
    ctx.set_secondary_status("Processing")
    value = fn(**kwargs)
    ws = ctx.workspace
    outputs: dict[str, str] = {}
    result: Any = value
    inputs = list(ctx.job.inputs)
    if isinstance(value, dict):
        result = {}
        for key, v in value.items():
            if isinstance(v, pd.DataFrame):
                record = ws.datasets.create(_dataset_name(cfg["pipeline"], cfg["step"], str(key)), v, derived_from=inputs or None,
                                            source=f"pipeline/{cfg['pipeline']}/execution/{cfg['execution']}")  # fmt: skip
                outputs[str(key)] = record.ref
                ctx.add_output(record.ref)
            else:
                result[str(key)] = v
    files: dict[str, Any] = {}
    for name, folder in folders.items():
        art = ws.artifacts.put_dir(folder, owner=ctx.job.ref)
        outputs[name] = f"artifact/{art.digest}"
        ctx.add_output(outputs[name])
    for pf in cfg.get("property_files") or []:
        path = folders[pf["OutputName"]] / pf["FilePath"]
        if not path.is_file():
            raise FileNotFoundError(f"property file {pf['PropertyFileName']!r}: {pf['FilePath']} was not written to output {pf['OutputName']!r}")
        files[pf["PropertyFileName"]] = json.loads(path.read_text())
    payload = {"result": result, "outputs": outputs, "property_files": files}
    json.dumps(payload)  # a step's result must be JSON
    ws.metadata.update_job(ctx.name, handle_update={"pipeline_result": payload})


__all__ = ["StepFault", "load_callable", "run_processing"]

"""Batch transform jobs (``ws.transforms``): SageMaker's CreateTransformJob on local files.

    job = ws.transforms.create("loans:champion", ["data/part-1.csv", "data/part-2.csv"],
                               split_type="Line", batch_strategy="MultiRecord",
                               assemble_with="Line", join_source="Input", wait=True)
    ws.transforms.describe(job.name)["files"]     # one .out per input file, in input order

A transform is a job of kind ``transform`` (``ws.jobs`` lists, stops and reconciles it); the
model's version and the dataset are recorded as its inputs, the output folder as its output.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import new_name, validate_name
from forgeml.core.records import JobRecord
from forgeml.errors import NotFoundError, ValidationError
from forgeml.serving._transform_config import TransformConfig, load_config

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

ENTRYPOINT = "forgeml.serving._transform_job:run"


def resolve_model(ws: Workspace, spec: str) -> tuple[Path, str | None]:
    """A local package folder and its registry ref for ``GROUP[:VERSION|ALIAS]``, ``model/...``
    or a package folder path.

    Raises:
        NotFoundError: unknown group, version, alias or folder.
    """
    from forgeml.registry.package import MANIFEST, verify_package

    path = Path(spec)
    if ws.access.check_model(spec, "model") and (path / MANIFEST).is_file():
        verify_package(path)
        return path, None
    text = spec.removeprefix("model/")
    if "/" in text or not text:
        raise NotFoundError(f"model {spec!r} is neither a package folder nor a registry GROUP:VERSION")
    group, _, version = text.partition(":")
    record = ws.registry.get(group, version or None)
    return Path(ws.registry.download(group, record.version)), record.ref


class TransformService:
    """Create, list, describe, wait for and stop batch transform jobs."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def create(
        self,
        model: str,
        inputs: list[str | Path] | str | Path | None = None,
        *,
        dataset: str | None = None,
        name: str | None = None,
        output_path: str | Path | None = None,
        wait: bool = False,
        timeout: float | None = None,
        max_runtime_seconds: float | None = None,
        **params: Any,
    ) -> JobRecord:
        """Start a transform job.

        Args:
            model: registry ``GROUP[:VERSION|ALIAS]`` (or ``model/GROUP:VERSION``) or a package folder.
            inputs: input files or folders (each folder's files, sorted); or give ``dataset``.
            dataset: ``NAME[:VERSION]`` of a dataset to transform instead of files.
            output_path: folder for the ``.out`` files (default: under the job's folder).
            wait: block until the job ends (raises JobFailedError if it fails).
            params: ``content_type``, ``accept``, ``split_type``, ``batch_strategy``,
                ``max_payload_mb``, ``max_concurrent_transforms``, ``assemble_with``,
                ``input_filter``, ``output_filter``, ``join_source``, ``compression_type``,
                ``environment``; see :class:`TransformConfig`.

        Raises:
            ValidationError: a bad parameter, name or non-empty output folder.
            NotFoundError: the model, an input or the dataset does not exist.
        """
        if isinstance(inputs, (str, Path)):
            inputs = [inputs]
        access = self.ws.access  # a network caller reads only allowed roots and names no output location
        for i, item in enumerate(inputs or []):
            access.check_source(item, f"inputs[{i}]")
        access.check_output(output_path, "output_path")
        access.check_environment(params.get("environment") or {}, "environment")
        name = validate_name(name or new_name("transform"), "transform job name")
        output = Path(output_path) if output_path else self.ws.jobs.workdir(name) / "output"
        config = load_config(
            {"model": str(model), "inputs": [str(p) for p in inputs or []], "dataset": dataset,
             "output_path": str(output.resolve()), **params}
        ).check()  # fmt: skip
        if output.exists() and any(output.iterdir()):
            raise ValidationError(f"output path {output} is not empty")
        refs = []
        _, model_ref = resolve_model(self.ws, config.model)
        if model_ref:
            refs.append(model_ref)
        if config.dataset:
            from forgeml.registry._frames import parse_dataset_ref

            ds_name, ds_version = parse_dataset_ref(config.dataset)
            refs.append(self.ws.datasets.get(ds_name, ds_version).ref)
        else:
            from forgeml.serving._transform_io import input_files

            input_files(config)
        job = self.ws.jobs.submit(
            "transform", ENTRYPOINT, {"transform": config.model_dump()}, name=name, inputs=refs,
            max_runtime_seconds=max_runtime_seconds,
        )  # fmt: skip
        if wait:
            return self.ws.jobs.wait(job.name, timeout=timeout)
        return job

    def get(self, name: str) -> JobRecord:
        """Raises: NotFoundError when there is no transform job of that name."""
        job = self.ws.jobs.get(name)
        if job.kind != "transform":
            raise NotFoundError(f"job {name!r} is a {job.kind} job, not a transform job")
        return job

    def list(self, *, status: list[str] | None = None, name_contains: str | None = None, limit: int | None = None) -> list[JobRecord]:
        return self.ws.jobs.list(kind="transform", status=status, name_contains=name_contains, limit=limit)

    def config(self, name: str) -> TransformConfig:
        return TransformConfig.model_validate(self.get(name).config["transform"])

    def report(self, name: str) -> dict[str, Any] | None:
        """Per-file results once the job has finished its files (``None`` before)."""
        from forgeml.serving._transform_job import REPORT

        self.get(name)
        file = self.ws.jobs.workdir(name) / REPORT
        return json.loads(file.read_text()) if file.is_file() else None

    def output_file(self, name: str, file: str) -> Path:
        """The local ``.out`` file of one completed input of a finished job, by its file name.

        Raises:
            NotFoundError: no such job, no results yet, or no completed output of that name.
        """
        report = self.report(name)
        for result in (report or {}).get("files", []):
            out = result.get("output")
            if out and result.get("status") == "Completed" and Path(out).name == file and Path(out).is_file():
                return Path(out)
        raise NotFoundError(f"transform job {name!r} has no completed output file {file!r}")

    def describe(self, name: str) -> dict[str, Any]:
        """The job, its transform settings, progress metrics and per-file results."""
        job = self.get(name)
        out = job.to_dict()
        out["transform"] = job.config["transform"]
        out["metrics"] = self.ws.metadata.latest_metrics([job.ref]).get(job.ref, {})
        report = self.report(name)
        out["files"] = report["files"] if report else []
        out["output_path"] = job.config["transform"].get("output_path")
        return out

    def wait(self, name: str, *, timeout: float | None = None, raise_on_failure: bool = True) -> JobRecord:
        self.get(name)
        return self.ws.jobs.wait(name, timeout=timeout, raise_on_failure=raise_on_failure)

    def stop(self, name: str, *, wait: bool = False) -> JobRecord:
        self.get(name)
        return self.ws.jobs.stop(name, wait=wait)

    def progress(self, name: str) -> tuple[float, int]:
        """``(fraction of input bytes done, records done)`` from the job's metrics."""
        job = self.get(name)
        latest = self.ws.metadata.latest_metrics([job.ref]).get(job.ref, {})
        return float(latest.get("progress", 1.0 if job.status == "Completed" else 0.0)), int(latest.get("records", 0))

    def delete_output(self, name: str) -> None:
        """Remove a finished job's output folder."""
        shutil.rmtree(self.config(name).output_path or "", ignore_errors=True)


__all__ = ["ENTRYPOINT", "TransformService", "resolve_model"]

"""The multi-model cache: models load on first use and the least recently used are evicted.

SageMaker's multi-model endpoints keep a model in memory after its first call and unload models
only when a newly targeted model needs the room. Here the room is a memory budget in bytes and a
model's cost is its package size on disk (a stable, testable estimate of what loading it holds).
"""

from __future__ import annotations

import re
import shutil
import tarfile
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

from forgeml.errors import ValidationError
from forgeml.serving._runner import ModelRunner

_TARGET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,1023}$")


def _resolve(root: Path, target: str, scratch: Path) -> Path:
    if not target or not _TARGET.match(target) or ".." in target:
        raise ValidationError(f"invalid target model {target!r}: use the name of a package in the model folder")
    candidate = root / target
    if candidate.is_dir():
        return candidate
    if candidate.is_file() and target.endswith((".tar.gz", ".tgz")):
        dest = scratch / target
        if not dest.is_dir():
            tmp = Path(tempfile.mkdtemp(dir=scratch))
            try:
                with tarfile.open(candidate, "r:gz") as tar:
                    tar.extractall(tmp, filter="data")
            except (tarfile.TarError, OSError) as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                raise ValidationError(f"target model {target!r} is not a readable .tar.gz: {exc}") from None
            inner = [p for p in tmp.iterdir()]
            src = inner[0] if len(inner) == 1 and inner[0].is_dir() else tmp
            src.rename(dest)
            shutil.rmtree(tmp, ignore_errors=True)
        return dest
    raise ValidationError(f"target model {target!r} is not in this endpoint's model folder")


class ModelCache:
    """Loaded models of one multi-model variant, least recently used first.

    Args:
        root: the folder of model packages.
        budget_bytes: evict until the loaded packages' sizes add up to at most this.
        enabled: ``False`` (SageMaker ``ModelCacheSetting=Disabled``) unloads after each call.
        trusted: ``False`` loads only ONNX models (a pickle-based package is refused, 403).
    """

    def __init__(
        self, root: str | Path, budget_bytes: int, *, enabled: bool = True, threads: int | None = None, trusted: bool = True
    ) -> None:
        self.root = Path(root)
        self.trusted = trusted
        self.budget_bytes = budget_bytes
        self.enabled = enabled
        self.threads = threads
        self._models: OrderedDict[str, ModelRunner] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._scratch = Path(tempfile.mkdtemp(prefix="forgeml-mme-"))
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def loaded(self) -> list[str]:
        """Loaded model names, least recently used first."""
        with self._lock:
            return list(self._models)

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(self._sizes.values())

    def cached(self, target: str) -> ModelRunner | None:
        """The loaded model (marked most recently used), or None when it is not loaded."""
        with self._lock:
            runner = self._models.get(target)
            if runner is not None:
                self._models.move_to_end(target)
                self.hits += 1
            return runner

    def get(self, target: str) -> tuple[ModelRunner, float, bool]:
        """The model for ``target``, loading it on first use; also the seconds spent waiting
        and whether this call loaded it (False when it was loaded already, or by a concurrent call).

        Raises:
            ValidationError: unknown target or a folder that is not a model package.
        """
        runner = self.cached(target)
        if runner is not None:
            return runner, 0.0, False
        t0 = time.perf_counter()
        with self._lock:
            gate = self._loading.setdefault(target, threading.Lock())
        with gate:
            runner = self.cached(target)
            if runner is not None:
                return runner, time.perf_counter() - t0, False
            path = _resolve(self.root, target, self._scratch)
            try:
                runner = ModelRunner(path, threads=self.threads, trusted=self.trusted)
            except (KeyError, ValidationError) as exc:
                raise ValidationError(f"target model {target!r} is not a model package: {exc}") from None
            size = runner.size_bytes
            if size > self.budget_bytes:
                raise ValidationError(
                    f"target model {target!r} needs {size} bytes, more than the cache budget of {self.budget_bytes}"
                )
            with self._lock:
                self.misses += 1
                if self.enabled:
                    self._evict_for(size)
                    self._models[target] = runner
                    self._sizes[target] = size
        return runner, time.perf_counter() - t0, True

    def _evict_for(self, size: int) -> None:
        while self._models and sum(self._sizes.values()) + size > self.budget_bytes:
            name, _ = self._models.popitem(last=False)
            self._sizes.pop(name, None)
            self.evictions += 1

    def close(self) -> None:
        with self._lock:
            self._models.clear()
            self._sizes.clear()
        shutil.rmtree(self._scratch, ignore_errors=True)


__all__ = ["ModelCache"]

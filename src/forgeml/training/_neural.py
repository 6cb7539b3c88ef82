"""The training loop the torch built-ins share (factorization machines, image classifier).

One epoch per iteration: shuffled mini-batches (the shuffles replayed on resume, so a resumed job
trains on the same order as an uninterrupted one), Adam, metrics per epoch under SageMaker's
names, checkpoints of the module and optimizer state, early stopping on the validation loss,
debugger rules. The trained module is exported with ``torch.export`` and wrapped in a
:class:`~forgeml.training._torch.TorchModel`, so it packages, compiles to ONNX (with pruning and
quantization) and serves like a script-mode torch model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.training._evaluate import evaluate
from forgeml.training._runtime import StopRequested

if TYPE_CHECKING:
    from forgeml.training._builtin import Checkpointer, Prepared
    from forgeml.training._runtime import TrainingRun


def setup(seed: int, n_jobs: int) -> str:
    """Seed torch and pin its threads; the device to train on (a GPU only when torch sees one)."""
    import torch

    from forgeml.training._device import torch_device

    torch.manual_seed(seed)
    torch.set_num_threads(max(1, n_jobs))
    return torch_device()


class Live:
    """A module being trained, behind ``predict``/``predict_proba`` for the epoch metrics."""

    def __init__(self, module: Any, task: str, device: str) -> None:
        self.module, self.task, self.device = module, task, device

    def _out(self, X: Any) -> np.ndarray:
        import torch

        self.module.eval()
        with torch.no_grad():
            out = self.module(torch.as_tensor(np.array(X, dtype=np.float32), device=self.device))
        self.module.train()
        return np.asarray(out.cpu().numpy(), dtype=np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        z = self._out(X)
        if z.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.column_stack([1.0 - p, p])
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return np.asarray(e / e.sum(axis=1, keepdims=True))

    def predict(self, X: Any) -> np.ndarray:
        return self._out(X)[:, 0]


def loss_function(task: str) -> Any:
    """BCE on one logit (binary), cross-entropy (multiclass) or squared error (regression)."""
    import torch

    if task == "binary":
        bce = torch.nn.BCEWithLogitsLoss()
        return lambda out, y: bce(out[:, 0], y.float())
    if task == "multiclass":
        return torch.nn.CrossEntropyLoss()
    mse = torch.nn.MSELoss()
    return lambda out, y: mse(out[:, 0], y.float())


def fit(
    tr: TrainingRun,
    d: Prepared,
    ck: Checkpointer,
    module: Any,
    param_groups: Callable[[Any], list[dict[str, Any]]],
    *,
    extra_metrics: Callable[[Live], dict[str, float]] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train ``module`` on ``d`` for ``hp["epochs"]`` epochs; return ``(TorchModel, extra)``.

    Args:
        module: maps float32 ``[rows, n_features]`` to one logit per class (one for binary) or
            one value (regression).
        param_groups: the optimizer's parameter groups of a module (learning rate and weight
            decay per group).
        extra_metrics: more validation points per epoch (e.g. ranking metrics).
    """
    import torch

    hp = d.hp
    device = setup(d.seed, d.n_jobs)
    module = module.to(device)
    opt = torch.optim.Adam(param_groups(module))
    X = torch.as_tensor(np.array(d.X, dtype=np.float32))
    y = torch.as_tensor(np.array(d.y, dtype=np.float32 if d.task == "regression" else np.int64))
    loss_fn = loss_function(d.task)
    state = ck.resumed()
    start, best, best_loss, since = 0, None, np.inf, 0
    if state:
        saved = torch.load(ck.dir / "module.pt", map_location=device, weights_only=True)
        module.load_state_dict(saved["module"])
        opt.load_state_dict(saved["optimizer"])
        best = saved["best"]
        start, best_loss, since = state["iteration"], state["best_loss"], state["since"]
        tr.ctx.log(f"[forgeml] resuming {tr.config['algorithm']} from epoch {start}")
    rng = np.random.default_rng(d.seed)
    for _ in range(start):
        rng.permutation(len(X))
    live = Live(module, d.task, device)
    loss_key = "validation:rmse" if d.task == "regression" else "validation:logloss"
    extra: dict[str, Any] = {"resumed_from_iteration": start or None, "device": device}
    patience = hp.get("early_stopping_patience")
    epoch = start - 1
    module.train()
    for epoch in range(start, hp["epochs"]):
        order = torch.as_tensor(rng.permutation(len(X)))
        for lo in range(0, len(order), hp["mini_batch_size"]):
            idx = order[lo : lo + hp["mini_batch_size"]]
            opt.zero_grad()
            loss = loss_fn(module(X[idx].to(device)), y[idx].to(device))
            loss.backward()
            opt.step()
        points = evaluate(d.task, live, d.X, d.y, "train")
        if d.Xv is not None:
            points.update(evaluate(d.task, live, d.Xv, d.yv, "validation"))
            if extra_metrics is not None:
                points.update(extra_metrics(live))
        tr.metrics(points, epoch)
        tr.progress(epoch + 1, hp["epochs"])
        current = points.get(loss_key)
        if current is None or current < best_loss or best is None:
            best, best_loss, since = copy.deepcopy(module.state_dict()), current if current is not None else np.inf, 0
        else:
            since += 1

        ck.maybe_save(epoch + 1, _writer(module, opt, best), best_loss=float(best_loss), since=since)
        try:
            tr.check_rules()
        except StopRequested as stop:
            extra["stopped_by_rule"] = str(stop)
            break
        if patience is not None and current is not None and since >= patience:
            tr.ctx.log(f"[forgeml] early stopping at epoch {epoch}: {loss_key} has not improved for {since} epochs")
            break
    extra["iterations"] = epoch + 1
    module.load_state_dict(best)
    return export(module.cpu().eval(), X.shape[1], d.classes), extra


def _writer(module: Any, opt: Any, best: Any) -> Callable[[Any], None]:
    import torch

    def write(folder: Any) -> None:
        torch.save({"module": module.state_dict(), "optimizer": opt.state_dict(), "best": best}, folder / "module.pt")

    return write


def export(module: Any, n_features: int, classes: list[Any] | None) -> Any:
    """``torch.export`` a module over ``[rows, n_features]`` and wrap it for a package."""
    import torch

    from forgeml.training._torch import TorchModel

    sample = torch.zeros(2, n_features)
    program = torch.export.export(module, (sample,), dynamic_shapes=({0: torch.export.Dim("rows")},))
    return TorchModel.from_program(program, n_features, classes)


__all__ = ["Live", "export", "fit", "loss_function", "setup"]

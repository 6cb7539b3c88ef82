"""A small image classifier trained from scratch (SageMaker's ``image-classification`` role).

Images arrive as pixel columns (row-major ``channels x height x width``, as sklearn's digits
frame holds them); the network reshapes them, runs two 3x3 convolutions (``num_filters`` and
twice that) with ReLU over pixels scaled by the training maximum, a 2x2 max pool after the first, an average pool to a grid of at most 4x4 and a linear layer.
No pretrained weights: nothing is downloaded. The exported program compiles to ONNX like any
torch model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.errors import ValidationError
from forgeml.training._neural import fit, setup

if TYPE_CHECKING:
    from forgeml.training._builtin import Checkpointer, Prepared
    from forgeml.training._runtime import TrainingRun


def parse_shape(text: str, n_columns: int) -> tuple[int, int, int]:
    """``"c,h,w"`` checked against the number of pixel columns.

    Raises:
        ValidationError: not three positive integers, or their product is not the column count.
    """
    try:
        c, h, w = (int(v) for v in str(text).split(","))
    except ValueError:
        raise ValidationError(f"image_shape must be 'channels,height,width' (got {text!r})") from None
    if min(c, h, w) < 1 or c * h * w != n_columns:
        raise ValidationError(f"image_shape {text!r} holds {c * h * w} pixels but the train channel has {n_columns} feature columns")
    return c, h, w


def _module(shape: tuple[int, int, int], filters: int, n_out: int, peak: float) -> Any:
    import torch
    from torch import nn

    c, h, w = shape
    pool = 2 if min(h, w) >= 4 else 1
    hp, wp = h // pool, w // pool
    # a fixed average pool down to a grid of at most 4x4 (fixed kernels export to ONNX; an
    # adaptive pool does not with the batch dimension dynamic)
    kh, kw = max(1, hp // 4), max(1, wp // 4)
    cells = (hp // kh) * (wp // kw)

    class SmallCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(c, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(pool),
                nn.Conv2d(filters, 2 * filters, 3, padding=1), nn.ReLU(), nn.AvgPool2d((kh, kw)), nn.Flatten(),
            )  # fmt: skip
            self.head = nn.Linear(2 * filters * cells, n_out)
            self.register_buffer("scale", torch.tensor(1.0 / peak if peak > 0 else 1.0))

        def forward(self, x: Any) -> Any:
            return self.head(self.body(x.reshape(-1, c, h, w) * self.scale))

    return SmallCNN()


def train_image_classification(tr: TrainingRun, d: Prepared, ck: Checkpointer) -> tuple[Any, dict[str, Any]]:
    """The CNN trained with Adam, one epoch per iteration."""
    hp = d.hp
    if d.task == "regression":
        raise ValidationError("image-classification needs class labels; the target looks continuous")
    shape = parse_shape(hp["image_shape"], d.X.shape[1])
    classes = len(d.classes or [])
    setup(d.seed, d.n_jobs)  # the initial weights follow the job's seed
    peak = float(np.nanmax(np.abs(np.asarray(d.X, dtype=float))))  # pixels scaled into [-1, 1]
    module = _module(shape, hp["num_filters"], 1 if classes == 2 else classes, peak)
    model, extra = fit(tr, d, ck, module, lambda m: [{"params": m.parameters(), "lr": hp["learning_rate"]}])
    extra["image_shape"] = list(shape)
    return model, extra


__all__ = ["parse_shape", "train_image_classification"]

"""An opt-in tensor hook for PyTorch scripts: the series Debugger rules need, without regexes.

SageMaker Debugger's ``smdebug`` hook saves tensors from inside a script; this is its small
ForgeML counterpart. After ``loss.backward()`` (once per epoch, or every few steps), call
:meth:`DebugHook.record`; it prints one line::

    [forgeml:tensors] gradients/0.weight=0.0123 weights/0.weight=0.41 train:loss=0.52 validation:loss=0.61

which a script-mode job parses by itself (no metric definition needed) into metric series, one
step per call: ``gradients/<parameter>`` (mean absolute gradient; NaN or infinite when any
element is), ``weights/<parameter>`` (mean absolute value) and the losses given. The built-in
rules read them: ``VanishingGradient`` (``grad``), ``ExplodingTensor`` (every series),
``LossNotDecreasing`` (``train:loss``) and ``Overfit`` (``train:loss`` vs ``validation:loss``).

The module imports torch only when a hook is made, and nothing of ForgeML's job machinery: a
script that runs elsewhere can keep it (or drop the calls).
"""

from __future__ import annotations

import math
import sys
from typing import Any, TextIO

PREFIX = "[forgeml:tensors] "


def _number(value: Any) -> float:
    return float(value.detach().item() if hasattr(value, "detach") else value)


def parse_line(line: str) -> dict[str, float] | None:
    """The ``{series: value}`` of one hook line, or None for any other line."""
    at = line.find(PREFIX)
    if at < 0:
        return None
    out: dict[str, float] = {}
    for part in line[at + len(PREFIX) :].split():
        name, sep, text = part.partition("=")
        if not sep or not name:
            continue
        try:
            out[name] = float(text)
        except ValueError:
            continue
    return out


class DebugHook:
    """Watches a module's parameters; :meth:`record` prints their statistics and the losses.

    Args:
        module: the ``torch.nn.Module`` being trained.
        gradients: report mean absolute gradients.
        weights: report mean absolute weights.
        include: only parameters whose name contains one of these strings (default: all).
        stream: where to print (default ``sys.stdout``, flushed every line).
    """

    def __init__(self, module: Any, *, gradients: bool = True, weights: bool = False,
                 include: tuple[str, ...] | None = None, stream: TextIO | None = None) -> None:  # fmt: skip
        self.module, self.gradients, self.weights = module, gradients, weights
        self.include, self.stream = include, stream

    def _params(self) -> list[tuple[str, Any]]:
        named = list(self.module.named_parameters())
        if self.include:
            named = [(n, p) for n, p in named if any(s in n for s in self.include)]
        return named

    @staticmethod
    def _mean_abs(t: Any) -> float:
        import torch

        t = t.detach()
        if not bool(torch.isfinite(t).all()):
            return math.nan if bool(torch.isnan(t).any()) else math.inf
        return float(t.abs().mean().item())

    def values(self, loss: Any = None, val_loss: Any = None) -> dict[str, float]:
        """What :meth:`record` prints, as a dict."""
        out: dict[str, float] = {}
        for name, p in self._params():
            if self.gradients and p.grad is not None:
                out[f"gradients/{name}"] = self._mean_abs(p.grad)
            if self.weights:
                out[f"weights/{name}"] = self._mean_abs(p)
        if loss is not None:
            out["train:loss"] = _number(loss)
        if val_loss is not None:
            out["validation:loss"] = _number(val_loss)
        return out

    def record(self, loss: Any = None, val_loss: Any = None) -> dict[str, float]:
        """Print one hook line (after ``backward()``, before ``zero_grad()``); return its values."""
        values = self.values(loss, val_loss)
        stream = self.stream or sys.stdout
        stream.write(PREFIX + " ".join(f"{k}={v:.6g}" for k, v in values.items()) + "\n")
        stream.flush()
        return values


__all__ = ["PREFIX", "DebugHook", "parse_line"]

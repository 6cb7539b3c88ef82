"""Probabilistic forecasting (SageMaker's ``deepar``): an autoregressive LSTM over related series.

At every step the network reads the previous (scaled) value, the step's ``dynamic_feat`` values
and an embedding of each ``cat`` value, and outputs a Gaussian over the next value. Each window
is scaled by ``1 + mean |y|`` of its context (DeepAR's mean scaling), so series of different
levels share one model. Training maximizes the likelihood over windows of ``context_length +
prediction_length`` steps (teacher forcing, missing targets masked). Forecasts are
``num_samples`` ancestral sample paths; their mean and quantiles are the prediction.

Metrics on the ``test`` channel (the last ``prediction_length`` points of each series, the
history before them as context), SageMaker's definitions: ``test:RMSE`` of the mean forecast,
``test:wQuantileLoss[tau]`` = ``2 * sum(tau * max(y - q, 0) + (1 - tau) * max(q - y, 0)) / sum|y|``,
``test:mean_wQuantileLoss``; and coverage: ``test:coverage[tau]`` (share of actuals at or below
the tau-quantile, ideally tau) and ``test:interval_coverage`` (share inside the outermost
quantiles).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.errors import ValidationError
from forgeml.training._forecast_data import Series

if TYPE_CHECKING:
    from forgeml.training._runtime import TrainingRun


def _network(n_feat: int, cards: list[int], hp: dict[str, Any]) -> Any:
    import torch
    from torch import nn

    class DeepAR(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embeds = nn.ModuleList([nn.Embedding(c + 1, hp["embedding_dimension"]) for c in cards])
            width = 1 + n_feat + hp["embedding_dimension"] * len(cards)
            dropout = hp["dropout_rate"] if hp["num_layers"] > 1 else 0.0
            self.rnn = nn.LSTM(width, hp["num_cells"], hp["num_layers"], batch_first=True, dropout=dropout)
            self.out = nn.Linear(hp["num_cells"], 2)

        def inputs(self, prev: Any, feats: Any, cat: Any) -> Any:
            """``prev`` [B, T], ``feats`` [B, T, F], ``cat`` [B, C] -> [B, T, width]."""
            parts = [prev.unsqueeze(-1), feats]
            for j, emb in enumerate(self.embeds):
                parts.append(emb(cat[:, j]).unsqueeze(1).expand(-1, prev.shape[1], -1))
            return torch.cat(parts, dim=-1)

        def forward(self, x: Any, state: Any = None) -> tuple[Any, Any, Any]:
            h, state = self.rnn(x, state)
            mu, raw = self.out(h).unbind(-1)
            return mu, nn.functional.softplus(raw) + 1e-3, state

    return DeepAR()


class DeepARModel:
    """The trained network (its state as numpy arrays) and what it needs to forecast."""

    def __init__(self, state: dict[str, np.ndarray], n_feat: int, cards: list[int], hp: dict[str, Any]) -> None:
        self.state, self.n_feat, self.cards, self.hp = state, n_feat, cards, dict(hp)
        self._net: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_net"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._net = None

    @property
    def net(self) -> Any:
        import torch

        if self._net is None:
            net = _network(self.n_feat, self.cards, self.hp)
            net.load_state_dict({k: torch.as_tensor(v) for k, v in self.state.items()})
            self._net = net.eval()
        return self._net

    def sample(self, series: list[Series], num_samples: int, seed: int = 0) -> np.ndarray:
        """Sample paths ``[n_series, num_samples, prediction_length]`` after each series' end.

        A series' ``dynamic_feat`` must reach ``prediction_length`` past its target.
        """
        import torch

        ctx, pred = self.hp["context_length"], self.hp["prediction_length"]
        for i, s in enumerate(series):
            if len(s.target) < ctx:
                raise ValidationError(f"series {i}: {len(s.target)} observations, shorter than context_length = {ctx}")
            if self.n_feat and s.dynamic_feat.shape[1] < len(s.target) + pred:
                raise ValidationError(f"series {i}: dynamic_feat must run prediction_length = {pred} past the target")
        z, feats, cat, scale = [], [], [], []
        for s in series:
            n = len(s.target)
            y = s.target[n - ctx - 1 : n] if n > ctx else np.concatenate([[np.nan], s.target])
            sc = 1.0 + np.nanmean(np.abs(y[1:])) if np.isfinite(y[1:]).any() else 1.0
            z.append(np.nan_to_num(y / sc))
            feats.append(s.dynamic_feat[:, n - ctx : n + pred].T if self.n_feat else np.zeros((ctx + pred, 0)))
            cat.append([c if c < k else k for c, k in zip(s.cat, self.cards, strict=True)])
            scale.append(sc)
        Z = torch.as_tensor(np.array(z), dtype=torch.float32)  # [B, ctx + 1]: the value before the context, then it
        F = torch.as_tensor(np.array(feats), dtype=torch.float32)
        C = torch.as_tensor(np.array(cat, dtype=np.int64).reshape(len(series), -1))
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            _, _, state = self.net(self.net.inputs(Z[:, :-1], F[:, :ctx], C))
            rep = lambda t: t.repeat_interleave(num_samples, dim=0)  # noqa: E731
            state = tuple(rep(s.transpose(0, 1)).transpose(0, 1).contiguous() for s in state)
            prev, Fr, Cr = rep(Z[:, -1]), rep(F[:, ctx:]), rep(C)
            path = []
            for t in range(pred):
                mu, sigma, state = self.net(self.net.inputs(prev.unsqueeze(1), Fr[:, t : t + 1], Cr), state)
                prev = mu[:, 0] + sigma[:, 0] * torch.randn(mu.shape[0], generator=gen)
                path.append(prev)
        paths = torch.stack(path, dim=1).numpy().reshape(len(series), num_samples, pred)
        return paths * np.asarray(scale)[:, None, None]

    def forecast(self, series: list[Series], quantiles: list[float], num_samples: int | None = None) -> dict[str, np.ndarray]:
        """``{"mean": [n, pred], "0.1": [n, pred], ...}``."""
        paths = self.sample(series, num_samples or self.hp["num_eval_samples"])
        out = {"mean": paths.mean(axis=1)}
        for q in quantiles:
            out[f"{q:g}"] = np.quantile(paths, q, axis=1)
        return out

    def predict(self, X: Any) -> dict[str, np.ndarray]:
        """Forecasts of a frame of DeepAR records (columns ``start``, ``target``, ``cat``,
        ``dynamic_feat``): ``mean`` and one column per test quantile, each a list per row."""
        from forgeml.training._forecast_data import parse_record

        frame = X if hasattr(X, "to_dict") else None
        if frame is None:
            raise ValidationError("deepar predicts from records with start and target")
        records = frame.to_dict(orient="records")
        series = []
        for i, r in enumerate(records):
            clean = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in r.items() if v is not None}
            series.append(parse_record(clean, f"record {i}", self.hp["prediction_length"]))
        got = self.forecast(series, quantiles(self.hp["test_quantiles"]))
        return {k: np.array([list(map(float, row)) for row in v] + [None], dtype=object)[:-1] for k, v in got.items()}


def quantiles(text: str) -> list[float]:
    """``"0.1,0.5,0.9"`` as floats in (0, 1).

    Raises:
        ValidationError: a value that is not a number in (0, 1).
    """
    try:
        out = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        out = []
    if not out or not all(0 < q < 1 for q in out):
        raise ValidationError(f"test_quantiles must be comma-separated numbers in (0, 1) (got {text!r})")
    return sorted(out)


def metrics(actual: np.ndarray, fc: dict[str, np.ndarray], qs: list[float]) -> dict[str, float]:
    """The test metrics of the module docstring (``actual`` [n, pred], NaNs ignored)."""
    mask = np.isfinite(actual)
    y = np.where(mask, actual, 0.0)
    denom = float(np.abs(y).sum()) or 1.0
    out = {"test:RMSE": float(np.sqrt(np.mean((fc["mean"][mask] - actual[mask]) ** 2)))}
    losses = []
    for q in qs:
        pred = fc[f"{q:g}"]
        loss = 2.0 * float(np.sum(mask * (q * np.maximum(y - pred, 0) + (1 - q) * np.maximum(pred - y, 0)))) / denom
        out[f"test:wQuantileLoss[{q:g}]"] = loss
        out[f"test:coverage[{q:g}]"] = float(np.mean(actual[mask] <= pred[mask]))
        losses.append(loss)
    out["test:mean_wQuantileLoss"] = float(np.mean(losses))
    lo, hi = fc[f"{qs[0]:g}"], fc[f"{qs[-1]:g}"]
    out["test:interval_coverage"] = float(np.mean((actual[mask] >= lo[mask]) & (actual[mask] <= hi[mask])))
    return out


def _windows(series: list[Series], ctx: int, pred: int) -> list[tuple[int, int]]:
    out = []
    for i, s in enumerate(series):
        last = len(s.target) - ctx - pred
        out += [(i, start) for start in sorted({*range(0, last + 1, pred), last})]
    return out


def _batch(series: list[Series], picks: list[tuple[int, int]], ctx: int, pred: int, n_feat: int) -> tuple[Any, ...]:
    import torch

    w = ctx + pred
    prev, target, feats, cat = [], [], [], []
    for i, start in picks:
        s = series[i]
        y = s.target[start : start + w]
        sc = 1.0 + np.nanmean(np.abs(y[:ctx])) if np.isfinite(y[:ctx]).any() else 1.0
        before = s.target[start - 1] if start > 0 else np.nan
        z = np.concatenate([[before], y]) / sc
        prev.append(np.nan_to_num(z[:-1]))
        target.append(z[1:])
        feats.append(s.dynamic_feat[:, start : start + w].T if n_feat else np.zeros((w, 0)))
        cat.append(list(s.cat))
    as_t = lambda a, dt=torch.float32: torch.as_tensor(np.array(a), dtype=dt)  # noqa: E731
    return as_t(prev), as_t(target), as_t(feats), as_t(np.array(cat).reshape(len(picks), -1), torch.int64)


def train_deepar(tr: TrainingRun, train: list[Series], test: list[Series] | None, hp: dict[str, Any], seed: int, n_jobs: int) -> tuple[DeepARModel, dict[str, Any]]:
    """Fit the network on ``train``; metrics per epoch, test metrics at the end."""
    import torch

    from forgeml.training._neural import setup

    ctx, pred = hp["context_length"], hp["prediction_length"]
    qs = quantiles(hp["test_quantiles"])
    setup(seed, n_jobs)
    n_feat = len(train[0].dynamic_feat)
    cards = [max(s.cat[j] for s in train) + 1 for j in range(len(train[0].cat))]
    net = _network(n_feat, cards, hp)
    opt = torch.optim.Adam(net.parameters(), lr=hp["learning_rate"])
    windows = _windows(train, ctx, pred)
    rng = np.random.default_rng(seed)
    net.train()
    loss_value = float("nan")
    for epoch in range(hp["epochs"]):
        total, count = 0.0, 0
        order = rng.permutation(len(windows))
        for lo in range(0, len(order), hp["mini_batch_size"]):
            prev, target, feats, cat = _batch(train, [windows[i] for i in order[lo : lo + hp["mini_batch_size"]]], ctx, pred, n_feat)
            mu, sigma, _ = net(net.inputs(prev, feats, cat))
            mask = torch.isfinite(target)
            dist = torch.distributions.Normal(mu[mask], sigma[mask])
            loss = -dist.log_prob(target[mask]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + float(loss) * int(mask.sum()), count + int(mask.sum())
        loss_value = total / max(count, 1)
        tr.metric("train:loss", loss_value, epoch)
        tr.progress(epoch + 1, hp["epochs"])
    tr.metric("train:final_loss", loss_value, 0)
    model = DeepARModel({k: v.detach().numpy().copy() for k, v in net.state_dict().items()}, n_feat, cards, hp)
    extra: dict[str, Any] = {"iterations": hp["epochs"], "series": len(train), "windows": len(windows)}
    if test is not None:
        unseen = [s for s in test if any(c >= k for c, k in zip(s.cat, cards, strict=True))]
        if unseen:
            raise ValidationError(f"test channel: cat value(s) {list(unseen[0].cat)} not seen in training (cardinality {cards})")
        history = [Series(s.start, s.target[:-pred], s.cat, s.dynamic_feat) for s in test]
        fc = model.forecast(history, qs)
        actual = np.array([s.target[-pred:] for s in test])
        points = metrics(actual, fc, qs)
        tr.metrics(points, 0)
        extra["test"] = points
    return model, extra


__all__ = ["DeepARModel", "metrics", "quantiles", "train_deepar"]

"""Text classification (SageMaker's ``blazingtext`` supervised mode): a fastText-style model.

A document is lower-cased and split into words (``[a-z0-9']+``); words seen at least
``min_count`` times in training get their own embedding, unknown words are dropped (as fastText
drops them), and every word n-gram of 2 to ``word_ngrams`` words is hashed (CRC-32, the same in
every process) into one of ``buckets`` shared embeddings. The document vector is the mean of its
embeddings; one linear layer gives a logit per class. Trained with Adam in torch; the package
holds plain numpy arrays, so predicting needs no torch and is a gather, a mean and a matrix
product.
"""

from __future__ import annotations

import re
import zlib
from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.errors import ValidationError
from forgeml.training._evaluate import classification
from forgeml.training._runtime import StopRequested

if TYPE_CHECKING:
    from forgeml.training._builtin import Checkpointer, Prepared
    from forgeml.training._runtime import TrainingRun

_WORD = re.compile(r"[a-z0-9']+")


def words(text: Any) -> list[str]:
    """The words of one document (missing text has none)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    return _WORD.findall(str(text).lower())


class TextClassifier:
    """Vocabulary, hashed n-grams and the trained weights (what a package holds)."""

    def __init__(self, vocab: dict[str, int], buckets: int, ngrams: int, embeddings: np.ndarray,
                 weight: np.ndarray, bias: np.ndarray, classes: list[Any]) -> None:  # fmt: skip
        self.vocab, self.buckets, self.ngrams = vocab, buckets, ngrams
        self.embeddings, self.weight, self.bias = embeddings, weight, bias
        self.classes_ = np.asarray(classes)

    def ids(self, text: Any) -> list[int]:
        """Embedding rows of one document: known words, then hashed n-grams."""
        toks = words(text)
        out = [self.vocab[t] for t in toks if t in self.vocab]
        v = len(self.vocab)
        for n in range(2, self.ngrams + 1):
            for i in range(len(toks) - n + 1):
                out.append(v + zlib.crc32(" ".join(toks[i : i + n]).encode()) % self.buckets)
        return out

    def _texts(self, X: Any) -> list[Any]:
        if hasattr(X, "iloc"):
            return list(X.iloc[:, 0]) if X.ndim == 2 else list(X)
        arr = np.asarray(X, dtype=object)
        return list(arr[:, 0] if arr.ndim == 2 else arr)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax of the logits of every document in the (one-column) input."""
        docs = self._texts(X)
        vectors = np.zeros((len(docs), self.embeddings.shape[1]))
        for r, doc in enumerate(docs):
            rows = self.ids(doc)
            if rows:
                vectors[r] = self.embeddings[rows].mean(axis=0)
        z = vectors @ self.weight.T + self.bias
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return np.asarray(e / e.sum(axis=1, keepdims=True))

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.classes_[self.predict_proba(X).argmax(axis=1)])


def _vocabulary(texts: list[Any], min_count: int) -> dict[str, int]:
    from collections import Counter

    counts = Counter(t for doc in texts for t in words(doc))
    kept = sorted(w for w, c in counts.items() if c >= min_count)
    return {w: i for i, w in enumerate(kept)}


def train_blazingtext(tr: TrainingRun, d: Prepared, ck: Checkpointer) -> tuple[Any, dict[str, Any]]:
    """The fastText-style classifier, one epoch per iteration, optional early stopping."""
    import torch

    from forgeml.training._neural import setup

    hp = d.hp
    if d.task == "regression":
        raise ValidationError("blazingtext classifies text: the target looks continuous")
    if d.X.shape[1] != 1:
        raise ValidationError(f"blazingtext reads one text column (got {d.X.shape[1]})")
    texts = list(d.X.iloc[:, 0])
    vocab = _vocabulary(texts, hp["min_count"])
    n_classes = len(d.classes or [])
    probe = TextClassifier(vocab, hp["buckets"], hp["word_ngrams"], np.zeros((0, 0)), np.zeros((0, 0)), np.zeros(0), d.classes or [])
    docs = [probe.ids(t) for t in texts]
    if not any(docs):
        raise ValidationError(f"blazingtext: no word of the train channel is seen min_count = {hp['min_count']} times")
    device = setup(d.seed, d.n_jobs)
    bag = torch.nn.EmbeddingBag(len(vocab) + hp["buckets"], hp["vector_dim"], mode="mean").to(device)
    torch.nn.init.uniform_(bag.weight, -1.0 / hp["vector_dim"], 1.0 / hp["vector_dim"])
    head = torch.nn.Linear(hp["vector_dim"], n_classes).to(device)
    opt = torch.optim.Adam([*bag.parameters(), *head.parameters()], lr=hp["learning_rate"])
    y = torch.as_tensor(np.asarray(d.y, dtype=np.int64))
    rng = np.random.default_rng(d.seed)

    def snapshot() -> TextClassifier:
        return TextClassifier(
            vocab, hp["buckets"], hp["word_ngrams"], bag.weight.detach().cpu().numpy().copy(),
            head.weight.detach().cpu().numpy().copy(), head.bias.detach().cpu().numpy().copy(), d.classes or [],
        )  # fmt: skip

    best, best_acc, since, epoch = None, -1.0, 0, -1
    extra: dict[str, Any] = {"vocabulary_size": len(vocab), "device": device}
    for epoch in range(hp["epochs"]):
        order = rng.permutation(len(docs))
        for lo in range(0, len(order), hp["mini_batch_size"]):
            batch = [i for i in order[lo : lo + hp["mini_batch_size"]] if docs[i]]
            if not batch:
                continue
            flat = torch.as_tensor([t for i in batch for t in docs[i]], device=device)
            offsets = torch.as_tensor(np.concatenate([[0], np.cumsum([len(docs[i]) for i in batch])[:-1]]), device=device)
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(head(bag(flat, offsets)), y[batch].to(device))
            loss.backward()
            opt.step()
        model = snapshot()
        points = classification(d.y, model.predict_proba(d.X), "train")
        if d.Xv is not None:
            points.update(classification(d.yv, model.predict_proba(d.Xv), "validation"))
        tr.metrics(points, epoch)
        tr.progress(epoch + 1, hp["epochs"])
        acc = points.get("validation:accuracy", points["train:accuracy"])
        if acc > best_acc:
            best, best_acc, since = model, acc, 0
        else:
            since += 1
        try:
            tr.check_rules()
        except StopRequested as stop:
            extra["stopped_by_rule"] = str(stop)
            break
        if hp["early_stopping"] and d.Xv is not None and epoch + 1 >= hp["min_epochs"] and since >= hp["patience"]:
            tr.ctx.log(f"[forgeml] early stopping at epoch {epoch}: validation:accuracy has not improved for {since} epochs")
            break
    extra["iterations"] = epoch + 1
    return best if hp["early_stopping"] and best is not None else snapshot(), extra


__all__ = ["TextClassifier", "train_blazingtext", "words"]

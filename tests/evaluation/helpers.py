"""Small real models saved as ForgeML packages, shared by the evaluation and clarify tests."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from forgeml.registry.package import save_model

FEATURES = ["income", "debt", "black"]


def loans_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A loan-like frame: approval depends on income - debt and (unfairly) on ``black``."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "income": rng.normal(50, 10, n).round(2),
        "debt": rng.normal(20, 5, n).round(2),
        "black": rng.integers(0, 2, n),
        "region": rng.choice(["north", "south"], n),
    })  # fmt: skip
    frame["approve"] = ((frame.income - frame.debt + rng.normal(0, 6, n) - 6 * frame.black) > 24).astype(int)
    return frame


def save_binary(path: Path, frame: pd.DataFrame, kind: str = "xgboost") -> Path:
    """Fit a binary model on ``frame`` and save it as a package at ``path``."""
    from sklearn.linear_model import LogisticRegression
    from xgboost import XGBClassifier

    est = XGBClassifier(n_estimators=25, max_depth=3, random_state=0, n_jobs=1) if kind == "xgboost" else LogisticRegression(max_iter=500)
    est.fit(frame[FEATURES], frame["approve"])
    save_model(est, path, task="binary", inputs=[{"name": c, "type": "float64"} for c in FEATURES],
               target="approve", classes=[0, 1])  # fmt: skip
    return path


def save_multiclass(path: Path, frame: pd.DataFrame) -> Path:
    from sklearn.ensemble import RandomForestClassifier

    y = pd.cut(frame.income - frame.debt, [-np.inf, 25, 35, np.inf], labels=["low", "mid", "high"]).astype(str)
    est = RandomForestClassifier(n_estimators=20, random_state=0).fit(frame[FEATURES], y)
    save_model(est, path, task="multiclass", inputs=[{"name": c, "type": "float64"} for c in FEATURES],
               target="band", classes=list(est.classes_))  # fmt: skip
    return path


def save_regression(path: Path, frame: pd.DataFrame) -> Path:
    from sklearn.ensemble import GradientBoostingRegressor

    est = GradientBoostingRegressor(n_estimators=30, random_state=0).fit(frame[FEATURES], frame.income - frame.debt)
    save_model(est, path, task="regression", inputs=[{"name": c, "type": "float64"} for c in FEATURES], target="margin")
    return path


class TagCounter(HTMLParser):
    """Counts start tags and the classes of ``svg`` elements in an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.svg_classes: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        a = dict(attrs)
        if tag == "svg":
            self.svg_classes.extend((a.get("class") or "").split())
        for key in ("src", "href"):
            if a.get(key, "") and str(a[key]).startswith(("http", "//")):
                self.external.append(str(a[key]))


def parse_html(text: str) -> TagCounter:
    parser = TagCounter()
    parser.feed(text)
    parser.close()
    return parser

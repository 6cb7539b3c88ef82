"""The CI/CD gate (``forgeml gate``): a candidate model version against the champion.

Both are evaluated on the same labelled dataset (stored as ``evaluation`` resources, so the gate
is in the lineage), then every check is judged. A check names a metric and one of:

* an absolute bound: ``auc>=0.8``, ``log_loss<=0.4`` (``min_value`` / ``max_value``);
* a minimum absolute change against the champion, in the metric's own direction (lower is better
  for losses and errors): ``auc+=0.01`` (``min_delta``; ``auc+=-0.005`` tolerates a small
  regression, ``auc+=0`` means "no worse");
* a minimum relative change: ``auc+=1%`` (``min_relative_delta`` = 0.01, of ``|champion|``).

The verdict passes when every check passes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from forgeml.errors import NotFoundError, ValidationError
from forgeml.evaluation._compare import LOWER_IS_BETTER

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

KEYS = ("min_value", "max_value", "min_delta", "min_relative_delta")
_TEXT = re.compile(r"\s*([A-Za-z_][\w.]*)\s*(>=|<=|\+=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)\s*")


def parse_check(spec: str | dict[str, Any]) -> dict[str, Any]:
    """A check from text (``auc>=0.8``, ``auc+=0.01``, ``auc+=1%``) or a mapping.

    Raises:
        ValidationError: an unreadable check, naming it.
    """
    if isinstance(spec, str):
        m = _TEXT.fullmatch(spec)
        if not m:
            raise ValidationError(f"check {spec!r}: use METRIC>=X, METRIC<=X, METRIC+=X (minimum change) or METRIC+=X% (relative)")
        metric, op, number, percent = m.groups()
        value = float(number)
        if percent and op != "+=":
            raise ValidationError(f"check {spec!r}: % is for relative changes (METRIC+=X%)")
        key = {">=": "min_value", "<=": "max_value"}.get(op) or ("min_relative_delta" if percent else "min_delta")
        return {"metric": metric, key: value / 100 if percent else value}
    if not isinstance(spec, dict) or not isinstance(spec.get("metric"), str):
        raise ValidationError(f"check {spec!r}: a mapping with 'metric' and one of {', '.join(KEYS)}")
    given = [k for k in KEYS if k in spec]
    if set(spec) - {"metric", *KEYS} or len(given) != 1:
        raise ValidationError(f"check {spec!r}: 'metric' and exactly one of {', '.join(KEYS)}")
    value = spec[given[0]]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"check {spec!r}: {given[0]} must be a number")
    return {"metric": spec["metric"], given[0]: float(value)}


def judge(check: dict[str, Any], candidate: dict[str, float], champion: dict[str, float] | None) -> dict[str, Any]:
    """One check's result: the values, the change and whether (and why not) it passed."""
    metric = check["metric"]
    lower = metric in LOWER_IS_BETTER
    out: dict[str, Any] = {**check, "direction": "lower" if lower else "higher", "candidate": candidate.get(metric)}
    value = out["candidate"]
    if value is None:
        return {**out, "passed": False, "reason": f"the candidate has no metric {metric!r} (it has {', '.join(sorted(candidate))})"}
    if "min_value" in check:
        ok = value >= check["min_value"]
        return {**out, "passed": ok, "reason": None if ok else f"{metric} {value:.6g} < {check['min_value']:.6g}"}
    if "max_value" in check:
        ok = value <= check["max_value"]
        return {**out, "passed": ok, "reason": None if ok else f"{metric} {value:.6g} > {check['max_value']:.6g}"}
    if champion is None:
        return {**out, "passed": True, "reason": None, "skipped": "no champion: changes are not checked"}
    base = champion.get(metric)
    out["champion"] = base
    if base is None:
        return {**out, "passed": False, "reason": f"the champion has no metric {metric!r}"}
    change = (base - value) if lower else (value - base)  # > 0: better
    out["change"] = change
    out["relative_change"] = change / abs(base) if base else None
    if "min_delta" in check:
        ok = change >= check["min_delta"] - 1e-12
        why = f"{metric} improved by {change:.6g}, needs {check['min_delta']:.6g}"
    else:
        rel = out["relative_change"]
        ok = rel is not None and rel >= check["min_relative_delta"] - 1e-12
        why = f"{metric} improved by {'undefined' if rel is None else f'{rel:.4%}'}, needs {check['min_relative_delta']:.4%}"
    return {**out, "passed": ok, "reason": None if ok else why}


def champion_ref(candidate: str, champion: str) -> str:
    """``champion`` as a registry reference: an alias or version alone means the candidate's group."""
    if any(c in champion for c in ":@/"):
        return champion
    group = candidate.split("/")[-1].split(":")[0].split("@")[0]
    return f"{group}:{champion}" if champion.isdigit() else f"{group}@{champion}"


def run_gate(ws: Workspace, candidate: str, champion: str, data: Any, checks: list[str | dict[str, Any]], *,
             target: str | None = None, allow_no_champion: bool = False) -> dict[str, Any]:  # fmt: skip
    """Evaluate ``candidate`` and ``champion`` on ``data`` and judge ``checks``.

    Args:
        candidate: the new model version (``loans:3``, ``model/loans:3``).
        champion: a version or alias of the same group (``champion``, ``2``) or a full reference.
        data: the evaluation dataset (``loans-holdout:1``) or a file.
        checks: check specs (see :func:`parse_check`); at least one.
        allow_no_champion: when the champion does not exist (a first model), judge only the
            absolute bounds instead of failing.

    Returns:
        The report: ``passed``, ``verdict`` (``PASS``/``FAIL``), ``summary`` (one line),
        ``candidate`` and ``champion`` (references, evaluations, metrics) and ``checks``.

    Raises:
        ValidationError: no or unreadable checks, or problem types that differ.
        NotFoundError: the candidate, the dataset, or (unless allowed) the champion is missing.
    """
    parsed = [parse_check(c) for c in checks]
    if not parsed:
        raise ValidationError("gate: give at least one check (e.g. auc>=0.8, auc+=0.01)")
    cand = ws.evaluation.evaluate(candidate, data, target=target, name="gate-candidate")
    champ_ref = champion_ref(candidate, champion)
    try:
        champ = ws.evaluation.evaluate(champ_ref, data, target=target, name="gate-champion")
    except NotFoundError:
        if not allow_no_champion:
            raise
        champ = None
    if champ is not None and champ.data.get("problem_type") != cand.data.get("problem_type"):
        raise ValidationError(f"gate: the candidate is {cand.data.get('problem_type')} and the champion {champ.data.get('problem_type')}")
    champ_metrics = dict(champ.data["metrics"]) if champ is not None else None
    results = [judge(c, dict(cand.data["metrics"]), champ_metrics) for c in parsed]
    passed = all(r["passed"] for r in results)
    who = cand.spec.get("model_ref") or candidate
    against = champ.spec.get("model_ref") if champ is not None else f"no champion ({champ_ref})"
    failed = [r["reason"] for r in results if not r["passed"]]
    summary = (f"PASS: {who} vs {against} on {cand.spec['dataset']}: {len(results)}/{len(results)} checks passed" if passed
               else f"FAIL: {who} vs {against} on {cand.spec['dataset']}: {failed[0]}"
               + (f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""))  # fmt: skip
    return {
        "passed": passed, "verdict": "PASS" if passed else "FAIL", "summary": summary,
        "candidate": {"model": who, "evaluation": cand.ref, "metrics": cand.data["metrics"]},
        "champion": None if champ is None else {"model": against, "evaluation": champ.ref, "metrics": champ_metrics},
        "dataset": cand.spec["dataset"], "checks": results,
    }  # fmt: skip


__all__ = ["champion_ref", "judge", "parse_check", "run_gate"]

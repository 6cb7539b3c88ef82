"""Preparation recipes: an ordered, declarative list of steps, fitted once and applied identically.

    recipe = Recipe.from_yaml('''
    steps:
      - {type: impute, strategy: median, indicator: true, columns: [income]}
      - {type: scale, method: standard}
      - {type: encode, method: onehot}
    ''')
    fitted = recipe.fit(train, target="label")          # statistics computed here, once
    X = fitted.transform(new_rows)                       # serving: same columns, same order
    FittedRecipe.from_dict(json.loads(json.dumps(fitted.to_dict())))   # travels in model packages

Row-removing steps (``dedup``, ``outliers`` with ``action: remove``) drop rows only at training
time: ``fitted.transform(frame, training=True)``. Plain ``transform(frame)`` (serving, batch
transform, evaluation) never drops a row. The frame's index is kept, so callers can align labels
with ``y.loc[out.index]``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, TypeAdapter
from pydantic import ValidationError as PydanticError

from forgeml.data._recipe_base import Step
from forgeml.data._recipe_encode import Encode
from forgeml.data._recipe_misc import Custom, DatetimeParts, Dedup, Drop, TextFeatures, TimeSeries
from forgeml.data._recipe_numeric import Bin, Impute, Log, Outliers, Power, Scale
from forgeml.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.core.access import Access

FORMAT = "forgeml-recipe/1"

STEP_TYPES: dict[str, type[Step]] = {
    cls.model_fields["type"].default: cls
    for cls in (Impute, Outliers, Scale, Encode, Bin, Log, Power, DatetimeParts, TimeSeries, TextFeatures, Dedup, Drop, Custom)
}

_StepUnion = Annotated[
    Impute | Outliers | Scale | Encode | Bin | Log | Power | DatetimeParts | TimeSeries | TextFeatures | Dedup | Drop | Custom,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Step] = TypeAdapter(_StepUnion)


def parse_step(spec: Step | Mapping[str, Any], position: int = 0) -> Step:
    """One step from its dict spec (or an already-built step).

    Raises:
        ValidationError: unknown step type, unknown parameter or a bad value, naming the step.
    """
    if isinstance(spec, Step):
        return spec
    if not isinstance(spec, Mapping):
        raise ValidationError(f"recipe step {position + 1}: expected a mapping, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in STEP_TYPES:
        raise ValidationError(
            f"recipe step {position + 1}: unknown step type {kind!r} (known: {', '.join(sorted(STEP_TYPES))})"
        )
    try:
        return _ADAPTER.validate_python(dict(spec))
    except PydanticError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"][1:]) or "step"
        msg = err["msg"].removeprefix("Value error, ")
        raise ValidationError(f"recipe step {position + 1} ({kind}): {where}: {msg}") from None


class Recipe:
    """An unfitted recipe: the ordered step specs.

    Args:
        steps: step dicts (``{"type": "scale", ...}``) or step objects (``Scale(method="robust")``).
        name: an optional label kept in the serialized form.
    """

    def __init__(self, steps: Iterable[Step | Mapping[str, Any]] = (), name: str | None = None) -> None:
        self.steps: list[Step] = [parse_step(s, i) for i, s in enumerate(steps)]
        self.name = name

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Recipe:
        """Build from ``{"steps": [...], "name": ...}``.

        Raises:
            ValidationError: malformed spec.
        """
        if not isinstance(spec, Mapping):
            raise ValidationError(f"recipe spec must be a mapping with 'steps', got {type(spec).__name__}")
        unknown = set(spec) - {"steps", "name"}
        if unknown:
            raise ValidationError(f"recipe spec: unknown key(s) {', '.join(sorted(map(str, unknown)))} (expected steps, name)")
        steps = spec.get("steps", [])
        if not isinstance(steps, list):
            raise ValidationError("recipe spec: 'steps' must be a list")
        return cls(steps, name=spec.get("name"))

    @classmethod
    def from_yaml(cls, text: str) -> Recipe:
        """Build from YAML text (a mapping with ``steps``, or a bare list of steps).

        Raises:
            ValidationError: malformed YAML or spec.
        """
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ValidationError(f"recipe YAML is malformed{where}: {getattr(exc, 'problem', exc)}") from None
        if isinstance(data, list):
            data = {"steps": data}
        return cls.from_dict(data if data is not None else {"steps": []})

    def check_access(self, access: Access, field: str = "recipe") -> None:
        """Ask ``access`` about every function a ``custom`` step would import, before anything
        is fitted: a network caller may run only the entry points an operator allowed.

        Raises:
            ForbiddenError: naming the step (``recipe.steps[2].function``) and the function.
        """
        for i, step in enumerate(self.steps):
            if isinstance(step, Custom):
                access.check_entry_point(step.function, f"{field}.steps[{i}].function")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe spec (what ``from_dict`` reads)."""
        out: dict[str, Any] = {"steps": [s.spec() for s in self.steps]}
        if self.name:
            out["name"] = self.name
        return out

    def fit(self, frame: pd.DataFrame, target: str | pd.Series | Any = None) -> FittedRecipe:
        """Compute every step's statistics on ``frame`` and return the fitted recipe.

        Args:
            frame: the training rows.
            target: the label, as a column name of ``frame`` (excluded from the inputs) or as
                values aligned with ``frame`` (a Series or array); needed by target encoding.

        Raises:
            ValidationError: a step names a missing column, or the data does not suit a step.
        """
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise ValidationError(f"recipe.fit expects a pandas DataFrame, got {type(frame).__name__}")
        target_name: str | None = None
        y: pd.Series | None = None
        if isinstance(target, str):
            if target not in frame.columns:
                raise ValidationError(f"target column {target!r} not in the data")
            target_name, y, frame = target, frame[target], frame.drop(columns=[target])
        elif target is not None:
            values = target.to_numpy() if hasattr(target, "to_numpy") else list(target)
            if len(values) != len(frame):
                raise ValidationError(f"target has {len(values)} values for {len(frame)} rows")
            y = pd.Series(values, index=frame.index, name=getattr(target, "name", None))  # positional, not by label
        work = frame.reset_index(drop=True)
        y_work = None if y is None else pd.Series(y.to_numpy(), name=y.name)
        states: list[dict[str, Any]] = []
        for i, step in enumerate(self.steps):
            try:
                state = step.fit(work, None if y_work is None else y_work.loc[work.index])
                work = step.apply(work, state, training=True)
            except ValidationError as exc:
                raise ValidationError(f"recipe step {i + 1} ({step.type}): {exc.message}") from None
            states.append(state)
        return FittedRecipe(
            steps=self.steps, states=states, input_columns=[str(c) for c in frame.columns],
            input_types={str(c): str(t) for c, t in frame.dtypes.items()},
            output_columns=[str(c) for c in work.columns], target=target_name, name=self.name,
        )  # fmt: skip


class FittedRecipe:
    """A recipe with its fitted statistics; transforms new data exactly as at training time."""

    def __init__(
        self,
        steps: list[Step],
        states: list[dict[str, Any]],
        input_columns: list[str],
        output_columns: list[str],
        input_types: dict[str, str] | None = None,
        target: str | None = None,
        name: str | None = None,
    ) -> None:
        self.steps = steps
        self.states = states
        self.input_columns = input_columns
        self.output_columns = output_columns
        self.input_types = input_types or {}
        self.target = target
        self.name = name

    @property
    def recipe(self) -> Recipe:
        """The unfitted spec this was fitted from."""
        return Recipe(self.steps, name=self.name)

    def transform(self, frame: pd.DataFrame, *, training: bool = False) -> pd.DataFrame:
        """Apply the fitted steps; returns exactly ``output_columns`` (index preserved).

        Args:
            frame: rows with at least ``input_columns`` (extra columns are ignored).
            training: apply row-removing steps (dedup, outlier removal) too; the target column,
                when present in ``frame``, is carried along as the last column.

        Raises:
            ValidationError: a required input column is missing or holds unusable values.
        """
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise ValidationError(f"transform expects a pandas DataFrame, got {type(frame).__name__}")
        missing = [c for c in self.input_columns if c not in frame.columns]
        if missing:
            raise ValidationError(f"input is missing column(s): {', '.join(missing)}")
        index = frame.index
        work = frame[self.input_columns].reset_index(drop=True)
        for i, (step, state) in enumerate(zip(self.steps, self.states, strict=True)):
            try:
                work = step.apply(work, state, training=training)
            except ValidationError as exc:
                raise ValidationError(f"recipe step {i + 1} ({step.type}): {exc.message}") from None
        absent = [c for c in self.output_columns if c not in work.columns]
        if absent:
            raise ValidationError(f"transform did not produce column(s) {', '.join(absent)}")
        out = work[self.output_columns]
        kept = out.index.to_numpy()
        out = out.set_axis(index[kept], axis=0)
        if training and self.target is not None and self.target in frame.columns:
            out = out.assign(**{self.target: frame[self.target].to_numpy()[kept]})
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form (carried by model packages as ``recipe.json``)."""
        return {
            "format": FORMAT,
            "name": self.name,
            "target": self.target,
            "input_columns": list(self.input_columns),
            "input_types": dict(self.input_types),
            "output_columns": list(self.output_columns),
            "steps": [{"spec": s.spec(), "state": copy.deepcopy(st)} for s, st in zip(self.steps, self.states, strict=True)],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FittedRecipe:
        """Rebuild from :meth:`to_dict` output.

        Raises:
            ValidationError: not a fitted recipe, or a malformed one.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise ValidationError(f"not a fitted ForgeML recipe (format {found!r}, expected {FORMAT!r})")
        try:
            steps = [parse_step(s["spec"], i) for i, s in enumerate(data["steps"])]
            return cls(
                steps=steps, states=[copy.deepcopy(s["state"]) for s in data["steps"]],
                input_columns=list(data["input_columns"]), output_columns=list(data["output_columns"]),
                input_types=dict(data.get("input_types") or {}), target=data.get("target"), name=data.get("name"),
            )  # fmt: skip
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"fitted recipe is malformed: missing {exc}") from None

    def __repr__(self) -> str:
        kinds = ", ".join(s.type for s in self.steps)
        return f"FittedRecipe([{kinds}], {len(self.input_columns)} -> {len(self.output_columns)} columns)"


__all__ = [
    "FORMAT",
    "STEP_TYPES",
    "Bin",
    "Custom",
    "DatetimeParts",
    "Dedup",
    "Drop",
    "Encode",
    "FittedRecipe",
    "Impute",
    "Log",
    "Outliers",
    "Power",
    "Recipe",
    "Scale",
    "Step",
    "TextFeatures",
    "TimeSeries",
    "parse_step",
]

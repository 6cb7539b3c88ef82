"""One way to name things: parse a reference once, resolve it in one place.

Every face (SDK, CLI, REST) accepts the same forms for a resource of a known kind:

    NAME                        the latest version
    NAME:VERSION                one version (an integer from 1)
    NAME@ALIAS                  an alias: ``latest`` for every versioned kind, ``approved`` and the
                                registry's own aliases (``champion`` ...) for models
    KIND/NAME[:VERSION|@ALIAS]  the canonical, path-like form lineage and events use

plus ``job/NAME`` and ``artifact/<sha256 or a unique prefix of it>``. For models ``NAME:ALIAS`` is
still read as an alias (the registry's older spelling). :func:`parse_ref` turns text into a frozen
:class:`Ref` (a :class:`~forgeml.errors.ValidationError` names what is malformed);
:func:`resolve` finds the record behind it with messages such as
``dataset 'loans' has no version 9 (latest is 3)``. Services call these; nothing else parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forgeml.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from forgeml.core.metadata import MetadataStore
    from forgeml.core.records import ResourceRecord

_KIND = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
ALIAS_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
_HEX = re.compile(r"^[0-9a-f]+$")
MAX_VERSION = 2**63 - 1
LATEST = "latest"
APPROVED = "approved"
MODEL_GROUP_KIND = "model-package-group"

# kind -> the words used for it in messages; every versioned resource kind the services store.
LABELS: dict[str, str] = {
    "dataset": "dataset",
    "model": "model",
    MODEL_GROUP_KIND: "model package group",
    "endpoint": "endpoint",
    "feature-group": "feature group",
    "evaluation": "evaluation",
    "model-card": "model card",
    "bias-report": "bias report",
    "explanation": "explanation",
    "data-profile": "data profile",
    "data-validation": "validation report",
    "pii-report": "PII report",
    "recipe": "recipe",
    "monitoring-baseline": "monitoring baseline",
    "monitoring-execution": "monitoring execution",
    "monitoring-schedule": "monitoring schedule",
    "ground-truth": "ground truth upload",
    "pipeline": "pipeline",
}
# kinds whose references name no version: a job, an artifact (by digest), a run.
UNVERSIONED = ("job", "artifact", "run", "experiment")


@dataclass(frozen=True)
class Ref:
    """A parsed reference: at most one of ``version`` and ``alias`` is set."""

    kind: str
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.kind}/{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.kind}/{self.name}@{self.alias}"
        return f"{self.kind}/{self.name}"

    @property
    def selector(self) -> int | str | None:
        """The version, else the alias, else None (the latest)."""
        return self.version if self.version is not None else self.alias

    @property
    def short(self) -> str:
        """The reference without its kind (``loans:3``)."""
        return str(self).split("/", 1)[1]


def is_number(text: str) -> bool:
    """Whether ``text`` is a plain ASCII decimal number (``str.isdigit`` also takes ``'¹'``, ``'٣'``)."""
    return text.isascii() and text.isdigit()


def label(kind: str) -> str:
    return LABELS.get(kind, kind)


def _selector(value: int | str | None, text: str) -> tuple[int | None, str | None]:
    """An explicit version argument (``3``, ``"3"``, ``"champion"``) as (version, alias)."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        raise ValidationError(f"invalid version {value!r} for {text!r}")
    if isinstance(value, int) or (isinstance(value, str) and is_number(value)):
        number = int(value)
        if not 1 <= number <= MAX_VERSION:
            raise ValidationError(f"invalid version {value} for {text!r}: versions are integers from 1")
        return number, None
    if isinstance(value, str) and ALIAS_PATTERN.match(value):
        return None, value
    raise ValidationError(f"invalid version or alias {value!r} for {text!r}")


def parse_ref(text: Any, kind: str | None = None, *, version: int | str | None = None) -> Ref:
    """Parse ``[KIND/]NAME[:VERSION|@ALIAS]``.

    Args:
        text: the reference (a :class:`Ref` is checked and returned).
        kind: the kind expected here; a reference to another kind is refused, and a reference
            without ``KIND/`` is taken to be of this kind. Without it the kind is required.
        version: an explicit version or alias given next to the reference (``--version``,
            ``?version=``, a positional VERSION); it must agree with one inside ``text``.

    Raises:
        ValidationError: malformed text, another kind than ``kind``, or two disagreeing versions.
    """
    ref = text if isinstance(text, Ref) else _parse(text, kind)
    if kind is not None and ref.kind != kind:
        raise ValidationError(f"{str(text)!r} is a {label(ref.kind)} reference, but a {label(kind)} is expected here")
    extra_version, extra_alias = _selector(version, str(text))
    if extra_version is None and extra_alias is None:
        return ref
    if ref.selector is None:
        return Ref(ref.kind, ref.name, extra_version, extra_alias)
    if (ref.version, ref.alias) != (extra_version, extra_alias):
        raise ValidationError(f"{str(text)!r} names {ref.selector} but version {version} was also given: give the version once")
    return ref


def _parse(text: Any, kind: str | None) -> Ref:
    if not isinstance(text, str):
        raise ValidationError(f"a reference must be text, got {type(text).__name__}")
    raw = text.strip()
    where = f"invalid reference {text!r}"
    if not raw:
        raise ValidationError(f"{where}: it is empty")
    if kind == "run" or raw.startswith("run/"):
        return _parse_run(raw.removeprefix("run/"), text)
    found_kind, sep, rest = raw.partition("/")
    if not sep:
        if kind is None:
            raise ValidationError(f"{where}: give its kind as KIND/NAME, e.g. dataset/{raw}")
        found_kind, rest = kind, raw
    elif not _KIND.match(found_kind):
        raise ValidationError(f"{where}: {found_kind!r} is not a kind (e.g. dataset/NAME:VERSION)")
    if found_kind == "artifact":
        return Ref("artifact", _digest_text(rest, text))
    if "/" in rest:
        raise ValidationError(f"{where}: a name cannot contain '/'")
    name, version, alias = rest, None, None
    if "@" in rest:
        name, _, alias = rest.partition("@")
        if not ALIAS_PATTERN.match(alias):
            hint = f" (for a version write {name}:{alias})" if is_number(alias) else ""
            raise ValidationError(f"{where}: alias {alias!r} must start with a letter{hint}")
    elif ":" in rest:
        name, _, selector = rest.partition(":")
        if is_number(selector):
            version = int(selector)
            if not 1 <= version <= MAX_VERSION:
                raise ValidationError(f"{where}: versions are integers from 1 to {MAX_VERSION}")
        elif ALIAS_PATTERN.match(selector) and (found_kind == "model" or selector == LATEST):
            alias = selector  # the registry's older GROUP:ALIAS spelling
        else:
            raise ValidationError(f"{where}: {selector!r} is not a version number (an alias is written NAME@ALIAS)")
    if not _NAME.match(name):
        raise ValidationError(f"{where}: the name must be letters, digits, '-', '_' or '.' (starting with a letter or digit)")
    if found_kind in UNVERSIONED and (version is not None or alias is not None):
        raise ValidationError(f"{where}: a {found_kind} has no versions; write {found_kind}/{name}")
    return Ref(found_kind, name, version, alias)


def name_of(text: Any, kind: str) -> str:
    """The name in a reference of ``kind``, where an operation acts on the whole resource (a job,
    an endpoint, a feature group's records): ``loans``, ``KIND/loans`` and ``loans@latest`` are
    fine; naming another version is refused rather than ignored.

    Raises:
        ValidationError: a malformed reference, another kind, or a specific version.
    """
    from forgeml.core.records import JobRecord, ResourceRecord

    if isinstance(text, ResourceRecord | JobRecord):
        return text.name
    ref = parse_ref(text, kind)
    if ref.selector not in (None, LATEST):
        raise ValidationError(f"{text!r} names a version, but this acts on the whole {label(kind)}: write {ref.name}")
    return ref.name


def _parse_run(rest: str, text: str) -> Ref:
    if is_number(rest):
        if int(rest) > MAX_VERSION:
            raise ValidationError(f"invalid run reference {text!r}: run ids are integers up to {MAX_VERSION}")
        return Ref("run", rest)
    experiment, sep, run = rest.partition("/")
    if not sep or not _NAME.match(experiment) or not _NAME.match(run):
        raise ValidationError(f"invalid run reference {text!r}: expected EXPERIMENT/RUN (or run/EXPERIMENT/RUN)")
    return Ref("run", f"{experiment}/{run}")


def _digest_text(text: str, original: str) -> str:
    digest = text.strip().lower().removeprefix("sha256:")
    if not _HEX.match(digest) or not 4 <= len(digest) <= 64:
        raise ValidationError(
            f"invalid artifact digest {original!r}: give the sha256 (64 hex characters) or a unique prefix of 4 or more"
        )
    return digest


def resolve_digest(store: MetadataStore, text: str) -> str:
    """The full sha256 behind a digest, ``sha256:...``, ``artifact/...`` or a unique prefix (like git).

    Raises:
        ValidationError: malformed, shorter than 4 hex characters, or a prefix of several
            artifacts (the message lists them).
        NotFoundError: no artifact starts with the prefix.
    """
    digest = _digest_text(str(text).removeprefix("artifact/"), str(text))
    if len(digest) == 64:
        return digest
    found = store.find_artifacts(digest, limit=6)
    if not found:
        raise NotFoundError(f"no artifact digest starts with {digest!r}")
    if len(found) > 1:
        shown = ", ".join(a.digest[:16] for a in found[:5]) + (", ..." if len(found) > 5 else "")
        raise ValidationError(f"artifact prefix {digest!r} is ambiguous: it starts {shown}; give more characters")
    return found[0].digest


def _latest_or_none(store: MetadataStore, kind: str, name: str) -> ResourceRecord | None:
    try:
        return store.get_resource(kind, name)
    except NotFoundError:
        return None


def _model_aliases(store: MetadataStore, name: str) -> dict[str, int]:
    try:
        group = store.get_resource(MODEL_GROUP_KIND, name, 1)
    except NotFoundError:
        return {}
    return dict(group.data.get("aliases") or {})


def _missing(store: MetadataStore, ref: Ref) -> NotFoundError:
    """The error for a reference that matched nothing, naming what does exist."""
    from forgeml.core.metadata import RETIRED

    what = f"{label(ref.kind)} {ref.name!r}"
    if ref.version is not None and any(r.version == ref.version for r in store.list_resources(ref.kind, name=ref.name, status=RETIRED)):
        return NotFoundError(f"{what} version {ref.version} was deleted")
    latest = _latest_or_none(store, ref.kind, ref.name)
    if latest is None:
        if ref.kind == "model" and _group_exists(store, ref.name):
            return NotFoundError(f"{what} has no versions yet (register one)")
        return NotFoundError(f"{what} does not exist")
    if ref.version is not None:
        return NotFoundError(f"{what} has no version {ref.version} (latest is {latest.version})")
    if ref.kind != "model":
        return NotFoundError(f"unknown alias {ref.alias!r} of {what} (a {label(ref.kind)} has only @{LATEST})")
    if ref.alias == APPROVED:
        return NotFoundError(f"{what} has no Approved version")
    known = sorted(_model_aliases(store, ref.name))
    listed = f"aliases: {', '.join(known)}" if known else f"no aliases; @{LATEST} and @{APPROVED} always work"
    return NotFoundError(f"unknown alias {ref.alias!r} of {what} ({listed})")


def _group_exists(store: MetadataStore, name: str) -> bool:
    try:
        store.get_resource(MODEL_GROUP_KIND, name, 1)
    except NotFoundError:
        return False
    return True


def resolve(store: MetadataStore, text: Any, kind: str, *, version: int | str | None = None) -> ResourceRecord:
    """The record of a versioned resource behind a reference.

    Args:
        store: the metadata store.
        text: the reference (any form above), a :class:`Ref` or a record of this kind.
        kind: the kind expected (``dataset``, ``model``, ``endpoint``, ``evaluation`` ...).
        version: an explicit version or alias given next to it (see :func:`parse_ref`).

    Raises:
        ValidationError: a malformed reference, or one to another kind.
        NotFoundError: nothing by that name, version or alias; the message says what exists.
    """
    from forgeml.core.records import ResourceRecord

    if isinstance(text, ResourceRecord):
        if text.kind != kind:
            raise ValidationError(f"{text.ref!r} is a {label(text.kind)}, but a {label(kind)} is expected here")
        if version is None:
            return text
        text = text.ref
    ref = parse_ref(text, kind, version=version)
    if kind in UNVERSIONED:
        raise ValidationError(f"{kind} references are not resolved to resource records")
    number = ref.version
    if ref.alias not in (None, LATEST):
        if kind == "model" and ref.alias == APPROVED:
            approved = store.list_resources(kind, name=ref.name, status="Approved")
            if not approved:
                raise _missing(store, ref)
            return max(approved, key=lambda r: r.version)
        aliases = _model_aliases(store, ref.name) if kind == "model" else {}
        if ref.alias not in aliases:
            raise _missing(store, ref)
        number = int(aliases[ref.alias])
    try:
        return store.get_resource(kind, ref.name, number)
    except NotFoundError:
        raise _missing(store, ref) from None


def is_reference(text: str) -> bool:
    """Whether ``text`` starts with a known kind (``dataset/``, ``model/``, ``job/`` ...)."""
    kind, sep, _ = str(text).partition("/")
    return bool(sep) and (kind in LABELS or kind in UNVERSIONED)


def looks_like_path(text: str, suffixes: tuple[str, ...] = ()) -> bool:
    """Whether an argument that may be a reference or a local path reads as a path.

    A path starts with ``/``, ``.`` or ``~``, holds a path separator after something that is not a
    kind, or ends with one of ``suffixes``; a bare name or ``KIND/...`` is a reference.
    """
    import os

    value = str(text)
    if is_reference(value):
        return False
    if value.startswith(("/", ".", "~")) or "/" in value or os.sep in value or "://" in value:
        return True
    return value.lower().endswith(tuple(s.lower() for s in suffixes)) if suffixes else False


__all__ = [
    "ALIAS_PATTERN",
    "LABELS",
    "Ref",
    "is_reference",
    "label",
    "looks_like_path",
    "name_of",
    "parse_ref",
    "resolve",
    "resolve_digest",
]

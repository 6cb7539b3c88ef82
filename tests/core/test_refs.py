"""References: one parser (every form, clear errors) and one resolver (messages that say what exists)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeml.core.records import ArtifactRecord, ResourceRecord
from forgeml.core.refs import Ref, looks_like_path, name_of, parse_ref, resolve, resolve_digest
from forgeml.core.workspace import Workspace
from forgeml.errors import NotFoundError, ValidationError


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("loans", "dataset", Ref("dataset", "loans")),
        ("loans:3", "dataset", Ref("dataset", "loans", 3)),
        ("loans@latest", "dataset", Ref("dataset", "loans", alias="latest")),
        ("loans:latest", "dataset", Ref("dataset", "loans", alias="latest")),
        ("dataset/loans:3", "dataset", Ref("dataset", "loans", 3)),
        ("dataset/loans", None, Ref("dataset", "loans")),
        ("model/loans@champion", None, Ref("model", "loans", alias="champion")),
        ("loans:champion", "model", Ref("model", "loans", alias="champion")),  # the registry's older spelling
        ("  loans:2 ", "model", Ref("model", "loans", 2)),
        ("job/train-1", None, Ref("job", "train-1")),
        ("artifact/ABCD12", None, Ref("artifact", "abcd12")),
        ("artifact/sha256:" + "a" * 64, None, Ref("artifact", "a" * 64)),
        ("exp/run-1", "run", Ref("run", "exp/run-1")),
        ("run/exp/run-1", None, Ref("run", "exp/run-1")),
    ],
)
def test_every_form_parses(text: str, kind: str | None, expected: Ref) -> None:
    assert parse_ref(text, kind) == expected


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("", "dataset", "it is empty"),
        ("loans", None, "give its kind as KIND/NAME"),
        ("loans:", "dataset", "is not a version number"),
        ("loans:0", "dataset", "versions are integers from 1"),
        (f"loans:{2**64}", "dataset", "versions are integers from 1"),
        ("loans:x", "dataset", "'x' is not a version number (an alias is written NAME@ALIAS)"),
        ("loans@", "model", "alias '' must start with a letter"),
        ("loans@3", "model", "for a version write loans:3"),
        ("a/b/c", "dataset", "a name cannot contain '/'"),
        ("Data/x", "dataset", "'Data' is not a kind"),
        ("-x", "dataset", "the name must be letters"),
        ("lo ans", "dataset", "the name must be letters"),
        ("lo\x00ans", "dataset", "the name must be letters"),
        ("job/x:2", None, "a job has no versions"),
        ("artifact/abc", None, "a unique prefix of 4 or more"),
        ("artifact/xyz123", None, "invalid artifact digest"),
        ("model/loans:1", "dataset", "'model/loans:1' is a model reference, but a dataset is expected here"),
        ("exp", "run", "expected EXPERIMENT/RUN"),
    ],
)
def test_malformed_references_are_one_clear_error(text: str, kind: str | None, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_ref(text, kind)


def test_non_text_is_refused() -> None:
    with pytest.raises(ValidationError, match="must be text, got int"):
        parse_ref(3, "dataset")


def test_an_explicit_version_merges_or_must_agree() -> None:
    assert parse_ref("loans", "dataset", version=2) == Ref("dataset", "loans", 2)
    assert parse_ref("loans", "model", version="champion") == Ref("model", "loans", alias="champion")
    assert parse_ref("loans:2", "dataset", version="2") == Ref("dataset", "loans", 2)
    with pytest.raises(ValidationError, match="give the version once"):
        parse_ref("loans:2", "dataset", version=3)
    with pytest.raises(ValidationError, match="invalid version"):
        parse_ref("loans", "dataset", version=0)
    with pytest.raises(ValidationError, match="invalid version or alias"):
        parse_ref("loans", "dataset", version="no such")


_names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,40}\Z")
_refs = st.builds(
    Ref,
    kind=st.sampled_from(["dataset", "model", "endpoint", "evaluation", "feature-group"]),
    name=_names,
    version=st.one_of(st.none(), st.integers(1, 2**63 - 1)),
)


@settings(max_examples=200, derandomize=True)
@given(_refs, st.booleans())
def test_the_canonical_form_round_trips(ref: Ref, with_alias: bool) -> None:
    if with_alias and ref.version is None:
        ref = Ref(ref.kind, ref.name, alias="champion")
    assert parse_ref(str(ref)) == ref
    assert parse_ref(ref.short, ref.kind) == ref


@settings(max_examples=300, derandomize=True)
@given(st.text(max_size=30))
def test_any_text_parses_or_raises_validation_error(text: str) -> None:
    try:
        ref = parse_ref(text, "dataset")
    except ValidationError as exc:
        assert "\n" not in exc.message.replace(repr(text), "")
    else:
        assert ref.kind == "dataset" and ref.name


def test_name_of_refuses_a_specific_version() -> None:
    assert name_of("endpoint/loans", "endpoint") == "loans"
    assert name_of("loans@latest", "endpoint") == "loans"
    with pytest.raises(ValidationError, match="acts on the whole endpoint: write loans"):
        name_of("loans:1", "endpoint")


@pytest.mark.parametrize(
    ("text", "path"),
    [("loans", False), ("dataset/loans:3", False), ("model/x@champion", False), ("./pkg", True), ("/tmp/x", True),
     ("~/x", True), ("data/train.csv", True), ("rows.csv", True), ("s3://bucket/x", True), ("loans:3", False)],
)
def test_paths_and_references_are_told_apart(text: str, path: bool) -> None:
    assert looks_like_path(text, (".csv", ".parquet")) is path


def _versions(ws: Workspace, kind: str, name: str, n: int) -> None:
    for _ in range(n):
        ws.metadata.create_resource(ResourceRecord(kind, name), next_version=True)


def test_resolve_names_what_exists(ws: Workspace) -> None:
    _versions(ws, "dataset", "loans", 3)
    assert resolve(ws.metadata, "loans", "dataset").version == 3
    assert resolve(ws.metadata, "dataset/loans:2", "dataset").version == 2
    assert resolve(ws.metadata, "loans@latest", "dataset").version == 3
    assert resolve(ws.metadata, "loans", "dataset", version=1).version == 1
    with pytest.raises(NotFoundError, match=r"^dataset 'loans' has no version 9 \(latest is 3\)$"):
        resolve(ws.metadata, "loans:9", "dataset")
    with pytest.raises(NotFoundError, match=r"^dataset 'ghost' does not exist$"):
        resolve(ws.metadata, "ghost", "dataset")
    with pytest.raises(NotFoundError, match=r"unknown alias 'champion' of dataset 'loans' \(a dataset has only @latest\)"):
        resolve(ws.metadata, "loans@champion", "dataset")
    with pytest.raises(ValidationError, match="is a model reference, but a dataset is expected"):
        resolve(ws.metadata, "model/loans:1", "dataset")
    record = resolve(ws.metadata, "loans:1", "dataset")
    assert resolve(ws.metadata, record, "dataset") is record
    with pytest.raises(ValidationError, match="is a dataset, but a model is expected"):
        resolve(ws.metadata, record, "model")


def test_model_aliases_and_approved(ws: Workspace) -> None:
    ws.metadata.create_resource(ResourceRecord("model-package-group", "loans", 1, data={"aliases": {"champion": 1}}))
    _versions(ws, "model", "loans", 2)
    ws.metadata.update_resource("model", "loans", 1, status="Approved")
    assert resolve(ws.metadata, "loans@champion", "model").version == 1
    assert resolve(ws.metadata, "loans:champion", "model").version == 1
    assert resolve(ws.metadata, "model/loans@approved", "model").version == 1
    assert resolve(ws.metadata, "loans", "model", version="latest").version == 2
    with pytest.raises(NotFoundError, match=r"^unknown alias 'champ' of model 'loans' \(aliases: champion\)$"):
        resolve(ws.metadata, "loans@champ", "model")
    ws.metadata.create_resource(ResourceRecord("model-package-group", "empty", 1, data={"aliases": {}}))
    with pytest.raises(NotFoundError, match="model 'empty' has no versions yet"):
        resolve(ws.metadata, "empty", "model")
    with pytest.raises(NotFoundError, match="model 'empty' has no versions yet"):
        resolve(ws.metadata, "empty@approved", "model")


def test_digest_prefixes_resolve_like_git(ws: Workspace) -> None:
    a, b, c = "ab12" + "0" * 60, "ab12" + "f" * 60, "cd34" + "0" * 60
    for digest in (a, b, c):
        ws.metadata.put_artifact(ArtifactRecord(digest, 1))
    assert resolve_digest(ws.metadata, "cd34") == c
    assert resolve_digest(ws.metadata, "artifact/CD34") == c
    assert resolve_digest(ws.metadata, "sha256:ab12f") == b
    assert resolve_digest(ws.metadata, a) == a
    with pytest.raises(ValidationError, match=r"artifact prefix 'ab12' is ambiguous: it starts ab12000000000000, ab12ffffffffffff"):
        resolve_digest(ws.metadata, "ab12")
    with pytest.raises(NotFoundError, match="no artifact digest starts with 'ef01'"):
        resolve_digest(ws.metadata, "ef01")
    with pytest.raises(ValidationError, match="unique prefix of 4 or more"):
        resolve_digest(ws.metadata, "ab1")


def test_artifact_store_and_lineage_take_prefixes(ws: Workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    art = ws.artifacts.put_bytes(b"hello")
    short = art.digest[:8]
    assert ws.artifacts.read_bytes(short) == b"hello"
    assert ws.artifacts.read_bytes(f"artifact/{short}") == b"hello"
    assert ws.artifacts.get_file(short, tmp_path / "out.bin").read_bytes() == b"hello"
    assert ws.artifacts.exists(short) and not ws.artifacts.exists("0000")
    ws.lineage.record(f"artifact/{art.digest}", "dataset/x:1", "stored-as")
    assert ws.lineage.upstream("dataset/x:1").children[0].ref == f"artifact/{art.digest}"
    assert ws.lineage.downstream(f"artifact/{short}").ref == f"artifact/{art.digest}"


def test_events_and_lineage_take_every_form(ws: Workspace) -> None:
    from tests.cli_runner import run_cli

    ws.metadata.create_resource(ResourceRecord("model-package-group", "m", 1, data={"aliases": {"champion": 1}}))
    _versions(ws, "model", "m", 2)
    ws.metadata.append_event("model/m:1", "Note", {"k": 1})
    out = run_cli(ws.home, "events", "--resource", "model/m@champion", "--json")
    import json

    events = json.loads(out.stdout)
    assert events and {e["resource"] for e in events} == {"model/m:1"}
    assert ws.lineage.canonical("model/m@champion") == "model/m:1"
    assert ws.lineage.canonical("endpoint/gone") == "endpoint/gone"  # a deleted resource keeps its name
    bad = run_cli(ws.home, "events", "--resource", "model/m:0")
    assert bad.returncode == 2 and "versions are integers from 1" in bad.stderr

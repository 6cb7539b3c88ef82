"""The access policy (``forgeml.core.access``): what a network caller may name, and the settings."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from forgeml.core.access import LOCAL, Access
from forgeml.core.workspace import Workspace
from forgeml.errors import ForbiddenError, NotFoundError, ValidationError
from forgeml.settings import load_settings
from tests.registry._models import hgb_package


def network(tmp_path: Path, **settings: object) -> Access:
    return Access.network(load_settings(home=str(tmp_path / "ws"), **settings))


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, Path]:
    data, code, outside = tmp_path / "data", tmp_path / "code", tmp_path / "outside"
    for folder in (data / "sub", code, outside):
        folder.mkdir(parents=True)
    (data / "a.csv").write_text("x\n1\n")
    (outside / "secret.csv").write_text("x\n1\n")
    (data / "link.csv").symlink_to(outside / "secret.csv")
    (data / "linkdir").symlink_to(outside)
    return {"data": data, "code": code, "outside": outside}


@pytest.mark.parametrize(
    "source",
    ["/etc/os-release", "etc/os-release", "~/secrets.csv", "./x.csv", "file:///etc/passwd", "local:///etc/passwd",
     "sqlite:////etc/app.db", "sqlite:///relative.db", "sqlite://", "duckdb:///:memory:", "postgresql://u@127.0.0.1/db",
     "postgres://u:pw@db/x", "mysql+pymysql://u@h/db", "s3://bucket/key.csv", "http://169.254.169.254/latest", "memory://x.csv",
     "simplecache::s3://b/k.csv", "zip://a.csv::file:///tmp/x.zip", "data:text/plain,a%0A1", "/**", "/etc/*.conf", ""],
)  # fmt: skip
def test_network_refuses_every_server_location_by_default(tmp_path: Path, source: str) -> None:
    with pytest.raises(ForbiddenError) as err:
        network(tmp_path).check_source(source, "source")
    message = str(err.value)
    assert message.startswith("source: ") and "\n" not in message
    assert "allowed_data_roots" in message or "allowed_url_schemes" in message or "not a path" in message


def test_local_access_allows_everything(tmp_path: Path) -> None:
    for call in (LOCAL.check_source, LOCAL.check_code, LOCAL.check_entry_point, LOCAL.check_output):
        call("/etc/passwd" if call is not LOCAL.check_entry_point else "os:system", "f")
    LOCAL.check_environment({"LD_PRELOAD": "/tmp/x.so"}, "environment")


def test_allowed_data_root_admits_its_files_globs_and_sqlite_but_not_escapes(tmp_path: Path, roots: dict[str, Path]) -> None:
    access = network(tmp_path, allowed_data_roots=[str(roots["data"])])
    data = roots["data"]
    for ok in (str(data / "a.csv"), f"{data}/sub/**/*.csv", f"file://{data}/a.csv", f"sqlite:///{data}/app.db",
               str(data / "sub" / ".." / "a.csv"), str(data / "missing.csv")):  # fmt: skip
        access.check_source(ok, "source")
    for bad in (str(roots["outside"] / "secret.csv"), f"{data}/../outside/secret.csv", f"{data}/*/../../outside/*",
                str(data / "link.csv"), f"{data}/linkdir/secret.csv", f"sqlite:///{roots['outside']}/app.db",
                str(tmp_path / "data-evil" / "x.csv")):  # fmt: skip
        with pytest.raises(ForbiddenError, match="source: "):
            access.check_source(bad, "source")


def test_a_folder_or_glob_with_a_link_leading_out_is_refused(tmp_path: Path, roots: dict[str, Path]) -> None:
    access = network(tmp_path, allowed_data_roots=[str(roots["data"])])
    (roots["data"] / "sub" / "ok.csv").write_text("x\n1\n")
    access.check_source(str(roots["data"] / "sub"), "source")
    access.check_source(f"{roots['data']}/sub/*.csv", "source")
    (roots["data"] / "sub" / "inner").mkdir()
    (roots["data"] / "sub" / "inner" / "back.csv").symlink_to(roots["data"] / "a.csv")  # a link that stays inside is fine
    access.check_source(str(roots["data"] / "sub"), "source")
    for source in (str(roots["data"]), f"{roots['data']}/*.csv", f"{roots['data']}/**"):  # data/ holds link.csv -> outside
        with pytest.raises(ForbiddenError, match=r"holds a link \(link(dir|\.csv)\) that leads outside"):
            access.check_source(source, "source")


def test_relative_paths_resolve_where_the_server_runs(tmp_path: Path, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(roots["data"])
    access = network(tmp_path, allowed_data_roots=[str(roots["data"])])
    access.check_source("a.csv", "source")
    with pytest.raises(ForbiddenError):
        access.check_source("../outside/secret.csv", "source")


def test_home_directory_paths_are_checked_where_they_expand(tmp_path: Path, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(roots["data"]))
    access = network(tmp_path, allowed_data_roots=[str(roots["data"])])
    access.check_source("~/a.csv", "source")  # fsspec and Path.expanduser() read $HOME/a.csv
    monkeypatch.setenv("HOME", str(roots["outside"]))
    with pytest.raises(ForbiddenError):
        access.check_source("~/secret.csv", "source")


def test_allowed_url_schemes(tmp_path: Path) -> None:
    access = network(tmp_path, allowed_url_schemes="s3,postgresql,simplecache,zip")
    for ok in ("s3://bucket/k.csv", "S3://bucket/k.csv", "postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db",
               "simplecache::s3://b/k", "zip://a.csv::s3://b/x.zip"):  # fmt: skip
        access.check_source(ok, "source")
    for bad in ("gs://b/k", "mysql://u@h/db", "simplecache::gs://b/k", "blockcache::s3://b/k", "zip://a.csv::s3://b/x.zip::file:///tmp/x",
                "zip://a.csv::/etc/x.zip", "zip://a.csv::x.zip"):  # fmt: skip
        with pytest.raises(ForbiddenError, match="allowed_url_schemes"):
            access.check_source(bad, "source")


def test_credentials_never_appear_in_a_refusal(tmp_path: Path) -> None:
    with pytest.raises(ForbiddenError) as err:
        network(tmp_path).check_source("postgresql://admin:hunter2@db:5432/prod", "source")
    assert "hunter2" not in str(err.value) and "admin:***@db" in str(err.value)


def test_references_are_never_looked_up_on_disk_and_paths_are_checked_where_they_are_read(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One decision (``refs.looks_like_path``, in ``rows_from`` and ``ws.registry.package``) and one
    check (the caller's access, on what reads as a path)."""
    from forgeml.data._inputs import rows_from

    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"x": [1, 2]}).to_csv(tmp_path / "loans.csv", index=False)
    hgb_package(tmp_path / "cancer")
    view = ws.with_access(Access.network(ws.settings))
    for ref in ("loans", "loans:3", "dataset/loans:3", "loans@latest"):
        with pytest.raises(NotFoundError, match=r"^dataset 'loans' does not exist$"):
            rows_from(view, ref, field="dataset")
    for ref in ("cancer", "cancer:1", "model/cancer:1", "cancer@champion"):  # ./cancer is a package, but this is a reference
        with pytest.raises(NotFoundError, match=r"^model 'cancer' does not exist$"):
            view.registry.package(ref, field="model")
    for value in ("loans.csv", "./loans.csv", str(tmp_path / "loans.csv"), "/etc/passwd", "../x", "a/b/c", "~", Path("loans.csv")):
        with pytest.raises(ForbiddenError, match=r"^dataset: .*allowed_data_roots"):
            rows_from(view, value, field="dataset")
    for value in ("./cancer", str(tmp_path / "cancer"), Path("cancer"), "/etc"):
        with pytest.raises(ForbiddenError, match=r"^variants\[A\]\.model: .*allowed_code_roots"):
            view.registry.package(value, field="variants[A].model")
    assert rows_from(ws, "./loans.csv")[0]["x"].tolist() == [1, 2]  # the SDK's own access reads them
    assert ws.registry.package("./cancer") == (Path("cancer"), None)


def test_code_roots(tmp_path: Path, roots: dict[str, Path]) -> None:
    access = network(tmp_path, allowed_code_roots=[str(roots["code"])], allowed_data_roots=[str(roots["data"])])
    access.check_code(roots["code"] / "train.py", "script")
    access.check_code(roots["code"] / "pkg", "model_dir")
    for bad in (roots["data"] / "train.py", "/usr/lib/python3/os.py", "s3://bucket/train.py"):
        with pytest.raises(ForbiddenError, match=r"script: .*(POST /bundles|allowed_code_roots)"):
            access.check_code(bad, "script")


def test_entry_points(tmp_path: Path) -> None:
    access = network(tmp_path, allowed_entry_points="mylib.steps:clean,mylib.jobs")
    for ok in ("mylib.steps:clean", "mylib.jobs:run", "mylib.jobs.deep:run", "forgeml.tuning.synthetic:bowl"):
        access.check_entry_point(ok, "f")
    for bad in ("mylib.steps:other", "mylib.jobsx:run", "mylib:run", "os:system", "forgeml.data._stream:consume_job"):
        with pytest.raises(ForbiddenError, match="allowed_entry_points"):
            access.check_entry_point(bad, "training.entrypoint")


def test_outputs_and_environments(tmp_path: Path, roots: dict[str, Path]) -> None:
    access = network(tmp_path, allowed_data_roots=[str(roots["data"])])
    access.check_output(None, "output_path")
    with pytest.raises(ForbiddenError, match="output_path: a request over the network may not name where the server writes"):
        access.check_output(str(roots["data"] / "out"), "output_path")  # not even inside a data root
    access.check_environment({"OMP_NUM_THREADS": "1", "MY_SETTING": "x"}, "environment")
    for key in ("LD_PRELOAD", "PYTHONPATH", "pythonstartup", "FORGEML_HOME", "PATH", "HOME", "https_proxy", "SSL_CERT_FILE"):
        with pytest.raises(ForbiddenError, match=f"environment: .*{key!r}"):
            access.check_environment({key: "x"}, "environment")


def test_settings_from_environment_and_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("FORGEML_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("FORGEML_ALLOWED_DATA_ROOTS", f"{tmp_path}/a, {tmp_path}/b")
    monkeypatch.setenv("FORGEML_ALLOWED_URL_SCHEMES", '["S3", "postgresql"]')
    monkeypatch.setenv("FORGEML_ALLOWED_ENTRY_POINTS", "mylib.steps:clean")
    s = load_settings(home=str(tmp_path / "ws"))
    assert s.allowed_data_roots == [tmp_path / "a", tmp_path / "b"] and s.allowed_url_schemes == ["s3", "postgresql"]
    assert s.allowed_entry_points == ["mylib.steps:clean"] and s.allowed_code_roots == []
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(f"allowed_code_roots: [{tmp_path}/code]\nbundle_max_mb: 8\n")
    monkeypatch.setenv("FORGEML_HOME", str(home))
    s = load_settings()
    assert s.allowed_code_roots == [tmp_path / "code"] and s.bundle_max_mb == 8


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("allowed_url_schemes", "s3://x", "is not a URL scheme"), ("allowed_entry_points", "os:system; rm", "package.module:function"),
     ("allowed_data_roots", "[not json", "not a JSON list"), ("bundle_max_files", "0", "greater than or equal to 1")],
)  # fmt: skip
def test_bad_access_settings_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    monkeypatch.setenv(f"FORGEML_{name.upper()}", value)
    with pytest.raises(ValidationError, match=f"invalid setting {name}: .*{message}"):
        load_settings(home=str(tmp_path / "ws"))


def test_a_network_view_shares_the_stores_and_buffers_but_checks_its_own_access(ws: Workspace) -> None:
    assert ws.access is LOCAL
    view = ws.with_access(Access.network(ws.settings))
    assert view.metadata is ws.metadata and view.artifacts is ws.artifacts and view.jobs is ws.jobs  # one handle per process
    assert view.datasets is not ws.datasets and view.datasets.ws is view and ws.datasets.ws is ws
    assert view.datasets.records() is ws.datasets.records()  # one write buffer per process
    ws.datasets.create("loans", pd.DataFrame({"x": [1, 2]}))
    assert view.datasets.get("loans").version == 1
    with pytest.raises(ForbiddenError):
        view.datasets.ingest("/etc/os-release", "leak")
    assert ws.access.is_local and not view.access.is_local
    ws.datasets.records().close()

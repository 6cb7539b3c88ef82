"""What a caller may touch on this machine: the one check for locations, code and entry points.

The SDK and the CLI run as the machine's own user and keep full access (:meth:`Access.local`,
the default of every :class:`~forgeml.core.workspace.Workspace`). A request that arrives over
HTTP gets :meth:`Access.network`: it may not name a server path, a URL or a database, run a
server-side script or import a server-side function, unless an operator allowed exactly that
in the settings (``allowed_data_roots``, ``allowed_url_schemes``, ``allowed_code_roots``,
``allowed_entry_points``). Over the network, data comes as uploads or dataset references and
code as uploaded bundles (``POST /bundles``); the REST API never writes where a caller says.

Services hold their workspace's ``access`` and ask it at the one place each kind of input is
resolved: data sources (:meth:`Access.check_source`), scripts and model packages
(:meth:`Access.check_code`), entry points (:meth:`Access.check_entry_point`), output locations
(:meth:`Access.check_output`) and job environments (:meth:`Access.check_environment`). Whether a
value that may be either is a reference or a local path is decided once, by
:func:`forgeml.core.refs.looks_like_path`, in the resolvers that read it
(:func:`forgeml.data._inputs.rows_from` for rows, ``ws.registry.package`` for models, training
channels); they check only what reads as a path, so a reference is never looked up on disk. A
refusal is a :class:`ForbiddenError` (HTTP 403) naming the field, why, and the setting that would
allow it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from forgeml.errors import ForbiddenError

if TYPE_CHECKING:
    from forgeml.settings import Settings

Origin = Literal["local", "network"]

# what a request field reaches, declared on REST request fields as ``x-forgeml-access`` (a test
# walks the route table and holds every location-like field to a declaration and an attack test)
AccessKind = Literal[
    "source",  # a file, glob, folder, fsspec URL or database URL to read
    "data",  # a dataset reference, or a CSV/Parquet file to read
    "code",  # a script or source folder to run
    "model",  # a registry reference, or a model package folder (pickles run code when loaded)
    "entry_point",  # package.module:function to import and call
    "output",  # a location to write
    "environment",  # variables for a job's process
    "nested",  # a document whose inner fields are checked by the service (listed in the description)
    "reference",  # a name of a resource in the metadata store, never a location
    "name",  # a label (a file name, a column), never a location
    "bundle",  # an artifact digest (an uploaded bundle), never a location
    "sql",  # a SQL text (checked by the SQL sandbox, not here)
]

# ForgeML's own entry points that are safe to run with any config a caller sends
NETWORK_SAFE_ENTRY_POINTS: tuple[str, ...] = ("forgeml.tuning.synthetic:bowl",)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_GLOB = re.compile(r"[*?\[]")
_LOCAL_SCHEMES = ("file", "local")
_FILE_DATABASES = ("sqlite",)  # database URLs whose database is a local file (checked as a path)
_ALIASES = {"postgres": "postgresql", "https": "http"}
# variables that load code or redirect files in a process ForgeML starts
_ENV_PREFIXES = ("LD_", "DYLD_", "PYTHON", "FORGEML_", "PIP_", "VIRTUAL_ENV", "CONDA")
_ENV_NAMES = frozenset({"PATH", "HOME", "TMPDIR", "TMP", "TEMP", "SHELL", "BASH_ENV", "ENV", "IFS", "CDPATH",
                        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTP_PROXY",
                        "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy",
                        "NUMBA_CACHE_DIR", "MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"})  # fmt: skip


def reaches(kind: AccessKind, note: str | None = None) -> dict[str, Any]:
    """``json_schema_extra`` of a REST request field: what the field reaches (shown in OpenAPI)."""
    out: dict[str, Any] = {"x-forgeml-access": kind}
    if note:
        out["x-forgeml-access-note"] = note
    return out


def _redact(text: str) -> str:
    return re.sub(r"(//[^/:@]+):[^/@]*@", r"\1:***@", text)


def _shown(value: str) -> str:
    text = _redact(value)
    return repr(text if len(text) <= 200 else text[:200] + "...")


@dataclass(frozen=True)
class Access:
    """The caller's origin and what the operator allowed a network caller to reach.

    Attributes:
        origin: ``local`` (SDK, CLI: everything) or ``network`` (a request over HTTP).
        data_roots: resolved folders whose files a network caller may read as data.
        url_schemes: URL schemes a network caller may name as data sources.
        code_roots: resolved folders whose scripts and model packages a network caller may use.
        entry_points: ``module:function`` or ``module`` (with its submodules) a network caller may run.
    """

    origin: Origin = "local"
    data_roots: tuple[Path, ...] = ()
    url_schemes: frozenset[str] = frozenset()
    code_roots: tuple[Path, ...] = ()
    entry_points: tuple[str, ...] = field(default=())

    @classmethod
    def local(cls) -> Access:
        """Full access: the machine's own user through the SDK or the CLI."""
        return cls()

    @classmethod
    def network(cls, settings: Settings) -> Access:
        """What a request over HTTP may reach under ``settings``."""

        def roots(paths: Iterable[Path]) -> tuple[Path, ...]:
            return tuple(Path(p).expanduser().resolve() for p in paths)

        schemes = {_ALIASES.get(s, s) for s in settings.allowed_url_schemes}
        return cls(
            origin="network", data_roots=roots(settings.allowed_data_roots), url_schemes=frozenset(schemes),
            code_roots=roots(settings.allowed_code_roots), entry_points=tuple(settings.allowed_entry_points),
        )  # fmt: skip

    @property
    def is_local(self) -> bool:
        return self.origin == "local"

    # data ----------------------------------------------------------------------------------
    def check_source(self, source: str | Path, field: str) -> None:
        """A file, glob, folder, fsspec URL or database URL that is about to be read.

        Raises:
            ForbiddenError: over the network, unless the path lies in an allowed data root or
                the URL's scheme is allowed.
        """
        if self.is_local:
            return
        text = str(source)
        if "::" in text:  # a chained fsspec URL (simplecache::s3://..., zip://x::/a/b.zip): every link must be allowed
            schemes = [_chain_scheme(part) for part in text.split("::")]
            bad = [s for s in schemes if self._base(s) not in self.url_schemes]
            if bad:
                raise ForbiddenError(f"{field}: the chained URL {_shown(text)} uses scheme {bad[0]!r}, which a request over the "
                                     "network may not name; an operator may allow it in allowed_url_schemes (FORGEML_ALLOWED_URL_SCHEMES)")  # fmt: skip
            return
        match = _SCHEME.match(text)
        if match is None and text.startswith("data:"):
            match = re.match(r"^(data):", text)
        if match is None:
            self._check_path(text, field, self.data_roots, "data")
            return
        base = self._base(match.group(1))
        if base in _LOCAL_SCHEMES:
            self._check_path(text[match.end() :], field, self.data_roots, "data")
        elif base in _FILE_DATABASES:
            self._check_path(_database_file(text, field), field, self.data_roots, "data", shown=text)
        elif base not in self.url_schemes:
            raise ForbiddenError(f"{field}: {_shown(text)} uses the URL scheme {base!r}, which a request over the network may "
                                 "not name; an operator may allow it in allowed_url_schemes (FORGEML_ALLOWED_URL_SCHEMES)")  # fmt: skip

    # code ----------------------------------------------------------------------------------
    def check_code(self, path: str | Path, field: str) -> None:
        """A script, source folder or model package folder on this machine that is about to run.

        Raises:
            ForbiddenError: over the network, unless it lies in an allowed code root.
        """
        if self.is_local:
            return
        text = str(path)
        match = _SCHEME.match(text)
        if match is not None and self._base(match.group(1)) not in _LOCAL_SCHEMES:
            raise ForbiddenError(f"{field}: {_shown(text)} is a URL; code comes from an uploaded bundle (POST /bundles)")
        self._check_path(text[match.end() :] if match else text, field, self.code_roots, "code")

    def check_entry_point(self, target: str, field: str) -> None:
        """``package.module:function`` that is about to be imported and called.

        Raises:
            ForbiddenError: over the network, unless it (or its module) is allowed.
        """
        if self.is_local or target in NETWORK_SAFE_ENTRY_POINTS:
            return
        module = target.partition(":")[0]
        for allowed in self.entry_points:
            if target == allowed or (":" not in allowed and (module == allowed or module.startswith(allowed + "."))):
                return
        raise ForbiddenError(f"{field}: {target!r} is server-side code that a request over the network may not run; an "
                             "operator may allow it (or its module) in allowed_entry_points (FORGEML_ALLOWED_ENTRY_POINTS)")  # fmt: skip

    # writes and processes ------------------------------------------------------------------
    def check_output(self, path: str | Path | None, field: str) -> None:
        """A location a caller names for the platform to write. Over the network: never.

        Raises:
            ForbiddenError: over the network, for any location.
        """
        if self.is_local or path is None:
            return
        raise ForbiddenError(f"{field}: a request over the network may not name where the server writes ({_shown(str(path))}); "
                             "leave it out: the server writes inside its own workspace")  # fmt: skip

    def check_environment(self, env: Mapping[str, str], field: str) -> None:
        """Variables for a process ForgeML starts: none that loads code or redirects files.

        Raises:
            ForbiddenError: over the network, for ``LD_*``, ``PYTHON*``, ``FORGEML_*``, ``PATH``
                and other variables that change what code runs or which files it reads.
        """
        if self.is_local:
            return
        for key in env:
            if key.upper().startswith(_ENV_PREFIXES) or key in _ENV_NAMES or key.upper() in _ENV_NAMES:
                raise ForbiddenError(f"{field}: a request over the network may not set {key!r}, which changes what code "
                                     "runs or which files it reads")  # fmt: skip

    # internals -----------------------------------------------------------------------------
    @staticmethod
    def _base(scheme: str) -> str:
        base = scheme.lower().split("+", 1)[0]
        return _ALIASES.get(base, base)

    @staticmethod
    def _check_path(text: str, field: str, roots: tuple[Path, ...], kind: Literal["data", "code"], shown: str | None = None) -> None:
        how = ("upload the data or name a dataset, or an operator lists its folder in allowed_data_roots "
               "(FORGEML_ALLOWED_DATA_ROOTS)") if kind == "data" else (
               "upload the code (POST /bundles) and name the bundle, or an operator lists its folder in "
               "allowed_code_roots (FORGEML_ALLOWED_CODE_ROOTS)")  # fmt: skip
        if "\0" in text or not text:
            raise ForbiddenError(f"{field}: {_shown(text)} is not a path a request over the network may name")
        parts = PurePosixPath(text).parts
        first_glob = next((i for i, p in enumerate(parts) if _GLOB.search(p)), len(parts))
        if ".." in parts[first_glob:]:
            raise ForbiddenError(f"{field}: the pattern {_shown(text)} climbs out of its folder ('..')")
        prefix = os.path.join(*parts[:first_glob]) if first_glob else "."
        resolved = Path(os.path.expanduser(prefix)).resolve()  # what a reader would open, links followed
        if not _inside(resolved, roots):
            where = "no folder is allowed" if not roots else "it is outside the allowed folders"
            raise ForbiddenError(f"{field}: {_shown(shown or text)} is a path on the server and {where}; {how}")
        if resolved.is_dir():  # a folder or glob is read file by file: no link under it may lead out
            for top, dirs, files in os.walk(resolved):
                for name in (*dirs, *files):
                    entry = Path(top, name)
                    if entry.is_symlink() and not _inside(entry.resolve(), roots):
                        raise ForbiddenError(f"{field}: {_shown(shown or text)} holds a link ({entry.relative_to(resolved)}) "
                                             f"that leads outside the allowed folders; {how}")  # fmt: skip


def _chain_scheme(part: str) -> str:
    """The protocol of one link of a chained URL: ``s3://b/k`` -> s3, ``simplecache`` -> itself,
    a bare path (a local file) -> file."""
    if match := _SCHEME.match(part):
        return match.group(1)
    return part if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", part) else "file"


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _database_file(url: str, field: str) -> str:
    import sqlalchemy as sa

    try:
        database = sa.engine.make_url(url).database
    except sa.exc.ArgumentError:
        raise ForbiddenError(f"{field}: {_shown(url)} is not a database URL a request over the network may name") from None
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ForbiddenError(f"{field}: {_shown(url)} names no database file; over the network a SQLite database must be "
                             "a file in an allowed data root (allowed_data_roots, FORGEML_ALLOWED_DATA_ROOTS)")  # fmt: skip
    return database


LOCAL = Access.local()

__all__ = ["LOCAL", "NETWORK_SAFE_ENTRY_POINTS", "Access", "AccessKind", "Origin", "reaches"]

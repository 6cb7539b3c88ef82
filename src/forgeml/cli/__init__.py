"""The ``forgeml`` command line (Typer + Rich).

Command modules import only Typer at module level; services and heavy libraries are imported
inside commands, so ``forgeml --help`` stays fast. Every :class:`~forgeml.errors.ForgeError`
becomes one line on stderr and the exit code from :func:`forgeml.errors.exit_code`; ``--debug``
shows the traceback instead. Click runs with ``standalone_mode=False`` so that nothing (an
``EOFError`` included) is turned into a bare "Aborted.".

Every command with ``--json`` (the table commands) also takes ``--wide`` and ``--columns``, added
here in one place (:func:`wrap_command`). Commands in :data:`READ_COMMANDS` never create a
workspace: run where there is none, they say so.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from typing import Any

import typer

try:  # Typer vendors Click in recent releases; its commands and exceptions are those classes
    from typer import _click as click
except ImportError:  # pragma: no cover - older Typer uses Click itself
    import click  # type: ignore[no-redef]

from forgeml.cli._common import state
from forgeml.cli._table import TableOptions, parse_columns

# (command group name, module) -- each module exposes a Typer ``app``; add a line per group.
GROUPS: list[tuple[str, str]] = [
    ("jobs", "forgeml.cli.jobs"),
    ("train", "forgeml.cli.train"),
    ("tune", "forgeml.cli.tune"),
    ("experiments", "forgeml.cli.experiments"),
    ("artifacts", "forgeml.cli.artifacts"),
    ("data", "forgeml.cli.data"),
    ("endpoints", "forgeml.cli.endpoints"),
    ("features", "forgeml.cli.features"),
    ("evaluate", "forgeml.cli.evaluate"),
    ("clarify", "forgeml.cli.clarify"),
    ("models", "forgeml.cli.models"),
    ("transform", "forgeml.cli.transform"),
    ("reports", "forgeml.cli.reports"),
    ("monitor", "forgeml.cli.monitor"),
    ("ground-truth", "forgeml.cli.ground_truth"),
    ("alarms", "forgeml.cli.alarms"),
    ("auth", "forgeml.cli.auth"),
    ("audit", "forgeml.cli.audit"),
    ("keys", "forgeml.cli.keys"),
    ("tls", "forgeml.cli.tls"),
    ("pipelines", "forgeml.cli.pipelines"),
    ("rules", "forgeml.cli.rules"),
    ("schedules", "forgeml.cli.schedules"),
    ("shadow-tests", "forgeml.cli.shadow_tests"),
    ("scaling", "forgeml.cli.scaling"),
]

# (command name, "module:function") -- single commands at the top level.
COMMANDS: list[tuple[str, str]] = [
    ("lineage", "forgeml.cli.lineage:lineage"),
    ("events", "forgeml.cli.events:events"),
    ("server", "forgeml.cli.server:server"),
    ("demo", "forgeml.cli.demo:demo"),
    ("config", "forgeml.cli.server:show_config"),
    ("scheduler", "forgeml.cli.server:scheduler"),
    ("gate", "forgeml.cli.gate:gate"),
]


# Commands that only read the workspace: where there is none they fail with "no workspace at PATH"
# instead of creating an empty one.
READ_COMMANDS = frozenset({
    "lineage", "events",
    "jobs ls", "jobs show", "jobs logs", "jobs metrics", "jobs wait",
    "train ls", "train show", "train logs", "train metrics", "train wait", "train model",
    "tune ls", "tune show", "tune wait",
    "experiments ls", "experiments runs", "experiments search", "experiments show", "experiments compare",
    "artifacts ls", "artifacts get",
    "data ls", "data versions", "data show", "data head", "data diff", "data export",
    "endpoints ls", "endpoints show", "endpoints logs", "endpoints async-result", "endpoints async-backlog",
    "features ls", "features show", "features get", "features query",
    "evaluate ls", "evaluate show", "evaluate report",
    "clarify ls", "clarify show",
    "models ls", "models versions", "models show", "models events", "models download", "models export-mlflow",
    "transform ls", "transform show", "transform wait",
    "reports ls", "reports export",
    "monitor ls", "monitor show", "monitor executions", "monitor violations",
    "alarms ls", "alarms show", "alarms history", "alarms metrics", "alarms stats", "endpoints deployment",
    "auth users", "auth keys", "auth whoami", "auth simulate", "audit ls", "audit verify",
    "pipelines ls", "pipelines show", "pipelines executions",
    "rules ls", "rules show", "rules firings", "schedules ls", "schedules show", "schedules firings",
    "shadow-tests ls", "shadow-tests show", "shadow-tests report",
    "scaling show", "scaling activity",
})  # fmt: skip


def _version(value: bool) -> None:
    if value:
        from forgeml import __version__

        typer.echo(f"forgeml {__version__}")
        raise typer.Exit()


def _root(
    home: str = typer.Option(None, "--home", envvar="FORGEML_HOME", help="Workspace folder (default ./.forgeml)."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """ForgeML: the production ML lifecycle on one machine."""
    state.home = home
    state.debug = debug


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="forgeml",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    for name, module in GROUPS:
        group = importlib.import_module(module).app
        for info in group.registered_commands:
            sub = info.name or (info.callback.__name__.replace("_", "-") if info.callback else "")
            if info.callback is not None:
                info.callback = wrap_command(info.callback, f"{name} {sub}")
        app.add_typer(group, name=name)
    for name, target in COMMANDS:
        module, _, func = target.partition(":")
        app.command(name)(wrap_command(getattr(importlib.import_module(module), func), name))
    return app


class _EndOfInput(Exception):
    """Carries an ``EOFError`` out of a command past Click, which would turn it into "Aborted."."""


# Typer's own Abort (recent releases), and Click's (older ones)
_ABORT: tuple[type[BaseException], ...] = tuple({typer.Abort, getattr(click.exceptions, "Abort", typer.Abort)})
_WIDE = typer.Option(False, "--wide", help="Show every column of tables (lines as long as they need).")
_COLUMNS = typer.Option(None, "--columns", metavar="A,B,C", help="Show only these table columns, in this order.")


def wrap_command(func: Callable[..., Any], path: str) -> Callable[..., Any]:
    """``func`` as a command that records whether it only reads, with ``--wide``/``--columns`` when it prints tables.

    Table commands are those with ``--json``; a command that already has an option of the same
    name keeps its own. Idempotent: wrapping a wrapped command returns it unchanged.
    """
    if getattr(func, "__forgeml_command__", None) == path:
        return func
    signature = inspect.signature(func, eval_str=True)
    params = list(signature.parameters.values())
    names = {p.name for p in params}
    flags = {d for p in params for d in (getattr(p.default, "param_decls", None) or ())}
    tables = "as_json" in names
    extra: dict[str, inspect.Parameter] = {}
    if tables and "--wide" not in flags and "wide" not in names:
        extra["wide"] = inspect.Parameter("wide", inspect.Parameter.KEYWORD_ONLY, default=_WIDE, annotation=bool)
    if tables and "--columns" not in flags:
        extra["table_columns"] = inspect.Parameter("table_columns", inspect.Parameter.KEYWORD_ONLY, default=_COLUMNS, annotation=str)

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        state.read_only = path in READ_COMMANDS
        wide = kwargs.pop("wide", False) if "wide" in extra else False
        state.tables = TableOptions(wide=bool(wide), columns=parse_columns(kwargs.pop("table_columns", None)))
        try:
            return func(*args, **kwargs)
        except EOFError as exc:  # Click would print a blank line and "Aborted."
            raise _EndOfInput() from exc

    positional = [p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) if p.kind is p.POSITIONAL_ONLY else p for p in params]
    command.__signature__ = signature.replace(parameters=[*positional, *extra.values()])  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in command.__signature__.parameters.values()}  # type: ignore[attr-defined]
    del command.__wrapped__  # Typer must read the signature above, not the original's
    command.__forgeml_command__ = path  # type: ignore[attr-defined]
    return command


def _fail(exc: BaseException, args: list[str]) -> None:
    from forgeml.errors import ForgeError, exit_code

    if state.debug or "--debug" in args:
        raise exc
    if isinstance(exc, ForgeError):
        sys.stderr.write(f"error: {_cli_message(exc.message, args)}\n")
    elif isinstance(exc, EOFError) and not str(exc):
        sys.stderr.write("error: input ended before an answer was given\n")
    else:
        sys.stderr.write(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)\n")
    sys.exit(exit_code(exc))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``forgeml`` console script."""
    args = sys.argv[1:] if argv is None else list(argv)
    state.reset()
    try:
        command = typer.main.get_command(build_app())
        try:
            rc = command.main(args=args, prog_name="forgeml", standalone_mode=False)
        except _ABORT as abort:  # Click's wrapper of EOFError: report what really happened
            cause = abort.__cause__ or abort.__context__
            if isinstance(cause, KeyboardInterrupt) or cause is None:
                sys.stderr.write("interrupted\n")
                sys.exit(130)
            _fail(cause, args)
        except click.exceptions.ClickException as exc:  # usage errors: Click's message, exit 2
            from typer import rich_utils

            rich_utils.rich_format_error(exc)
            sys.exit(exc.exit_code)
        if rc == 130:
            sys.stderr.write("interrupted\n")
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except _EndOfInput as carried:
        _fail(carried.__cause__ or carried, args)
    except Exception as exc:
        _fail(exc, args)
    finally:
        if state.workspace is not None:
            state.workspace.close()


def _cli_message(message: str, args: list[str]) -> str:
    """An error message naming the invoked command's options instead of Python parameters."""
    from forgeml.cli._messages import cli_message, resolve_command

    try:
        return cli_message(message, resolve_command(typer.main.get_command(build_app()), args))
    except Exception:  # never let the error printer fail: the service's own words are still true
        return message


__all__ = ["GROUPS", "READ_COMMANDS", "build_app", "main", "wrap_command"]

"""The ``forgeml`` command line (Typer + Rich).

Command modules import only Typer at module level; services and heavy libraries are imported
inside commands, so ``forgeml --help`` stays fast. Every :class:`~forgeml.errors.ForgeError`
becomes one line on stderr and the exit code from :func:`forgeml.errors.exit_code`; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys

import typer

from forgeml.cli._common import state

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
    ("keys", "forgeml.cli.keys"),
    ("tls", "forgeml.cli.tls"),
]

# (command name, "module:function") -- single commands at the top level.
COMMANDS: list[tuple[str, str]] = [
    ("lineage", "forgeml.cli.lineage:lineage"),
    ("events", "forgeml.cli.events:events"),
    ("server", "forgeml.cli.server:server"),
    ("demo", "forgeml.cli.demo:demo"),
    ("config", "forgeml.cli.server:show_config"),
]


def _root(
    home: str = typer.Option(None, "--home", envvar="FORGEML_HOME", help="Workspace folder (default ./.forgeml)."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
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
        app.add_typer(importlib.import_module(module).app, name=name)
    for name, target in COMMANDS:
        module, _, func = target.partition(":")
        app.command(name)(getattr(importlib.import_module(module), func))
    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``forgeml`` console script."""
    from forgeml.errors import ForgeError, exit_code

    args = sys.argv[1:] if argv is None else argv
    try:
        build_app()(args=args, prog_name="forgeml")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:
        if state.debug or "--debug" in args:
            raise
        if isinstance(exc, ForgeError):
            sys.stderr.write(f"error: {exc.message}\n")
        else:
            sys.stderr.write(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)\n")
        sys.exit(exit_code(exc))
    finally:
        if state.workspace is not None:
            state.workspace.close()


__all__ = ["GROUPS", "build_app", "main"]

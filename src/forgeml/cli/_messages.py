"""Error messages in the CLI's words: service parameter names become the command's options.

Services raise errors that name their Python parameters (``give target= (the label column)``,
``package (a folder), training_job or artifact``). On the command line the user typed options,
so :func:`cli_message` rewrites those names into the options of the command that ran
(``--target``, ``PACKAGE``, ``--training-job``). The mapping comes from the command's own Click
parameters, plus :data:`ALIASES` for service parameters whose option has another name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# service parameter -> the option that sets it, where the names differ (used when the command has it)
ALIASES: dict[str, str] = {
    "max_runtime_seconds": "--max-runtime",
    "channels": "--channel",
    "hyperparameters": "--hp",
    "features": "--feature",
    "metric_definitions": "--metric",
    "rules": "--rule",
    "max_jobs": "--max-jobs",
    "max_parallel_jobs": "--max-parallel-jobs",
    "input_filter": "--input-filter",
    "output_filter": "--output-filter",
    "join_source": "--join-source",
}

# ``name=`` (a keyword argument) or a bare snake_case name; never inside a longer word or an option
_NAME = re.compile(r"(?<![\w\-.'\"/])([a-z][a-z0-9]*(?:_[a-z0-9]+)*)(=(?![=\w\"']))?")


def resolve_command(root: Any, args: Sequence[str]) -> Any:
    """The (sub)command that ``args`` invoke, found without running it; None when it cannot tell.

    ``root`` is the Click command of the app (Typer ships its own copy of Click, so groups are
    recognised by their ``resolve_command`` method, not by class).
    """
    command, ctx = root, None
    rest = list(args)
    try:
        while hasattr(command, "resolve_command"):
            ctx = command.make_context(command.name or "forgeml", rest, parent=ctx, resilient_parsing=True)
            rest = [*getattr(ctx, "_protected_args", getattr(ctx, "protected_args", [])), *ctx.args]
            if not rest:
                return None
            _, sub, rest = command.resolve_command(ctx, rest)
            if sub is None:
                return None
            command = sub
    except Exception:  # a usage error: Click reports it itself, nothing to translate
        return None
    return command


def option_names(command: Any) -> dict[str, str]:
    """Python parameter name -> how the user spells it on ``command`` (``--training-job``, ``PACKAGE``)."""
    if command is None:
        return {}
    names: dict[str, str] = {}
    for param in command.params:
        if param.name is None:
            continue
        if param.param_type_name == "option":
            longs = [o for o in param.opts if o.startswith("--")]
            names[param.name] = longs[0] if longs else param.opts[0]
        elif param.param_type_name == "argument":
            names[param.name] = (getattr(param, "metavar", None) or param.name).upper()
    spelled = set(names.values())
    for service_name, option in ALIASES.items():
        if option in spelled and service_name not in names:
            names[service_name] = option
    return names


def cli_message(message: str, command: Any) -> str:
    """``message`` with the service's parameter names replaced by ``command``'s options.

    A keyword form (``target=``) is replaced whenever the command has that parameter; a bare name
    only when it is snake_case (``training_job``), so ordinary words in a message stay as they are.
    """
    names = option_names(command)
    if not names:
        return message

    def swap(match: re.Match[str]) -> str:
        word, keyword = match.group(1), match.group(2)
        option = names.get(word)
        if option is None or (not keyword and "_" not in word and not _in_list(match)):
            return match.group(0)
        return option

    return _NAME.sub(swap, message)


def _in_list(match: re.Match[str]) -> bool:
    """Whether a bare word sits in a ``give exactly one of a, b or c`` style list of parameters."""
    before = match.string[: match.start()]
    return bool(re.search(r"\b(one of|either)\s[^.;:]*$", before)) and bool(re.search(r"(\bone of|\beither|,| or| and) $", before))


__all__ = ["ALIASES", "cli_message", "option_names", "resolve_command"]

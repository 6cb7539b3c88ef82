"""``forgeml endpoints invoke-async | async-result | async-backlog``: async inference from the shell.

Registered on the ``endpoints`` group by :func:`register` (called from ``cli/endpoints.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from forgeml.cli._common import JsonOption, emit, print_table, workspace
from forgeml.cli._refs import ref_argument


def invoke_async(
    name: str = ref_argument("ENDPOINT"),
    file: Path = typer.Option(None, "--file", "-f", help="Inline body file (at most 128,000 bytes); '-' reads stdin."),
    input_location: str = typer.Option(None, "--input", help="InputLocation: artifact/DIGEST, dataset/NAME:VERSION or a local file."),
    content_type: str = typer.Option(None, "--content-type", help="Default: text/csv for .csv inputs, else application/json."),
    accept: str = typer.Option(None, help="Response type: application/json, text/csv or application/jsonlines."),
    custom_attributes: str = typer.Option(None, help="X-Amzn-SageMaker-Custom-Attributes."),
    inference_id: str = typer.Option(None, help="InferenceId (unique per endpoint); a new one when absent."),
    ttl: int = typer.Option(21_600, "--ttl", min=60, max=21_600, help="RequestTTLSeconds: longest wait in the queue."),
    timeout: int = typer.Option(900, "--timeout", min=1, max=3_600, help="InvocationTimeoutSeconds: longest processing time."),
    wait: float = typer.Option(None, "--wait", min=0, help="Wait up to this many seconds for the outcome."),
    as_json: bool = JsonOption,
) -> None:
    """Queue a request (InvokeEndpointAsync); print its InferenceId and output/failure locations."""
    from forgeml.errors import ValidationError

    body = None
    if input_location is None:
        if file is None or str(file) == "-":
            body = sys.stdin.buffer.read()
        elif not file.is_file():
            raise ValidationError(f"request file {file} does not exist")
        else:
            body = file.read_bytes()
    elif file is not None:
        raise ValidationError("give --file or --input, not both")
    if content_type is None:
        source = str(input_location or file or "")
        content_type = "text/csv" if source.endswith(".csv") else "application/json"
    svc = workspace().async_inference
    out = svc.invoke_async(
        name, body, input_location=input_location, content_type=content_type, accept=accept,
        custom_attributes=custom_attributes, inference_id=inference_id, request_ttl_seconds=ttl, invocation_timeout_seconds=timeout,
    )  # fmt: skip
    data = dict(out)
    if wait is not None:
        data["Status"] = svc.wait(name, out["InferenceId"], wait)["Status"]
    emit(data, as_json, lambda: print_table(None, ["field", "value"], list(data.items())))


def async_result(
    name: str = ref_argument("ENDPOINT"),
    inference_id: str = typer.Argument(..., metavar="INFERENCE_ID", help="The InferenceId invoke-async printed."),
    wait: float = typer.Option(0, "--wait", min=0, help="Wait up to this many seconds for the outcome."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the answer (or error document) to this file."),
    as_json: bool = JsonOption,
) -> None:
    """Show a request's state; once it finished, print what it wrote (the answer or the error)."""
    svc = workspace().async_inference
    state = svc.wait(name, inference_id, wait) if wait else svc.get(name, inference_id)
    if state["Status"] not in ("Completed", "Failed"):
        emit(state, as_json, lambda: typer.echo(f"{inference_id}: {state['Status']} (attempts {state['Attempts']})"))
        return
    data = svc.result(name, inference_id)
    if output is not None:
        output.write_bytes(data)
    if as_json:
        emit({**state, "Result": data.decode("utf-8", errors="replace")}, True, lambda: None)
        return
    typer.echo(f"{inference_id}: {state['Status']}" + (f" ({state['FailureReason']})" if state["FailureReason"] else ""), err=True)
    if output is None:
        text = data.decode("utf-8", errors="replace")
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def async_backlog(name: str = ref_argument("ENDPOINT"), as_json: bool = JsonOption) -> None:
    """ApproximateBacklogSize and ApproximateBacklogSizePerInstance of the endpoint's async queue."""
    data = workspace().async_inference.backlog(name)
    emit(data, as_json, lambda: print_table(None, ["metric", "value"], list(data.items())))


def register(app: typer.Typer) -> None:
    """Add the async commands to the ``endpoints`` group."""
    app.command("invoke-async")(invoke_async)
    app.command("async-result")(async_result)
    app.command("async-backlog")(async_backlog)


__all__ = ["register"]

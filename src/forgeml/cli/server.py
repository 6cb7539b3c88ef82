"""``forgeml server`` and ``forgeml config``."""

from __future__ import annotations

import typer

from forgeml.cli._common import JsonOption, emit, print_table, state


def server(
    host: str = typer.Option(None, help="Address to bind (default FORGEML_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default FORGEML_PORT, 8080)."),
    access_log: bool = typer.Option(False, help="Log every request (costs 10-20% throughput)."),
    scheduler: bool = typer.Option(True, "--scheduler/--no-scheduler", help="Also run schedules, event rules and due monitoring schedules (forgeml scheduler)."),
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json) and the endpoints' runtime paths."""
    import uvicorn

    from forgeml.api.app import create_app
    from forgeml.core.workspace import Workspace
    from forgeml.security import server_options
    from forgeml.security._enforce import check_can_serve, server_settings
    from forgeml.settings import load_settings

    settings = server_settings(load_settings(home=state.home, host=host, port=port))
    tls = server_options(settings)
    ws = Workspace(settings)
    scheme = "https" if tls else "http"
    check_can_serve(ws)
    typer.echo(f"forgeml server on {scheme}://{settings.host}:{settings.port} (workspace {ws.home}; security {'on' if settings.security_enabled else 'off'})", err=True)
    from forgeml.alarms._loop import AlarmLoop
    from forgeml.rules._loop import SchedulerLoop

    loop = SchedulerLoop(ws).start() if scheduler else None  # schedules, event rules, monitoring schedules
    alarms = AlarmLoop(ws).start()  # alarm evaluation; rolls back deployments interrupted by a restart
    from forgeml.pipelines._driver import start_thread as start_pipelines

    start_pipelines(ws, settings.pipeline_driver_seconds)  # resumes executions a killed server left behind
    from forgeml.serving._scaling_loop import ScalingLoop

    scaling = ScalingLoop(ws).start()  # autoscaling of endpoint variants; resumes an interrupted activity
    try:
        uvicorn.run(create_app(ws), host=settings.host, port=settings.port, access_log=access_log, log_level="warning", **tls)
    finally:
        scaling.stop()
        alarms.stop()
        if loop is not None:
            loop.stop()


def scheduler(
    interval: float = typer.Option(None, min=0.05, help="Seconds between passes (default FORGEML_RULES_TICK_SECONDS, 2)."),
    alarms: bool = typer.Option(True, "--alarms/--no-alarms", help="Also evaluate alarms (their state changes are what rules react to)."),
    once: bool = typer.Option(False, "--once", help="One pass, then exit (cron-driven setups, tests)."),
) -> None:
    """Run schedules, event rules and monitoring schedules without the REST API (kill -9 safe)."""
    import signal
    import threading

    from forgeml.alarms._loop import AlarmLoop
    from forgeml.cli._common import workspace
    from forgeml.rules._loop import SchedulerLoop

    ws = workspace()
    loop = SchedulerLoop(ws, interval)
    if once:
        if alarms:
            AlarmLoop(ws).tick()
        typer.echo(f"{loop.tick()} target(s) fired")
        return
    typer.echo(f"forgeml scheduler on workspace {ws.home} (every {loop.interval:g}s)", err=True)
    evaluator = AlarmLoop(ws).start() if alarms else None
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    loop.start()
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        loop.stop()
        if evaluator is not None:
            evaluator.stop()


def show_config(as_json: bool = JsonOption) -> None:
    """Show the settings in force (environment, config file and defaults)."""
    from forgeml.settings import load_settings

    settings = load_settings(home=state.home)
    data = {
        **settings.model_dump(mode="json"),
        "home": str(settings.resolved_home),
        "database_url": settings.resolved_database_url,
        "artifact_uri": settings.resolved_artifact_uri,
    }
    emit(data, as_json, lambda: print_table("settings", ["setting", "value"], sorted(data.items())))

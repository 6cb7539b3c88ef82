"""Demo stage ``security``: the same workspace behind a real REST server with security on.

A DataScientist key registers the trained model over HTTP but is refused (403) when it tries to
approve it; an MLOps key approves it and updates endpoint ``loans`` to serve it, then invokes
it through the server; the audit trail of the stage is printed at the end and verified.

Reads ``state.get("best_training_job")`` and ``state.get("model_version")`` (the serving stage's
registration, used when no training job ran). Sets ``state["summary"]["security"]``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from typing import Any

GROUP = "loans"
ENDPOINT = "loans"
PERSONAS = {"demo-scientist": "DataScientist", "demo-mlops": "MLOps"}


def _credential(store: Any, name: str, policy: str) -> str:
    """A fresh key for ``name`` (made with ``policy`` the first time; older keys revoked)."""
    from forgeml.errors import NotFoundError

    try:
        store.get_principal(name)
    except NotFoundError:
        store.create_principal(name, "user", [policy])
    for key in store.list_keys(name):
        if key.status != "Revoked":
            store.revoke(key.key_id)
    return str(store.create_key(name, expires_in_days=1).credential)


def _serve(ws: Any) -> tuple[str, Any]:
    """``create_app(ws)`` on uvicorn in a thread, on a free loopback port; its URL and a stopper."""
    import uvicorn

    from forgeml.api.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(ws), log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="demo-secure-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


def stage(ws: Any, state: dict[str, Any], say: Any) -> None:
    import httpx

    from forgeml.core.workspace import Workspace
    from forgeml.security import AuditLog, PrincipalStore

    secure = Workspace(ws.settings.model_copy(update={"security_enabled": True}), reconcile=False)
    store = PrincipalStore(secure)
    keys = {name: _credential(store, name, policy) for name, policy in PERSONAS.items()}
    url, stop = _serve(secure)
    state.setdefault("cleanups", []).append(lambda: (stop(), secure.close()))
    started = time.time() - 0.001
    say(f"REST server with security on at {url}; keys for {', '.join(f'{n} ({p})' for n, p in PERSONAS.items())}")
    out: dict[str, Any] = {"server": url}
    with httpx.Client(base_url=url, timeout=120) as http:
        sci = {"Authorization": f"Bearer {keys['demo-scientist']}"}
        ops = {"Authorization": f"Bearer {keys['demo-mlops']}"}
        assert http.get("/model-package-groups").status_code == 401  # no key, no answer
        job = state.get("best_training_job")
        if job:
            made = http.post(f"/model-package-groups/{GROUP}/versions", json={"training_job": job}, headers=sci)
            made.raise_for_status()
            version = int(made.json()["version"])
            say(f"demo-scientist registered [bold]model/{GROUP}:{version}[/bold] from training job {job}: HTTP {made.status_code}")
        else:  # no training job ran: approve the version the serving stage registered
            version = int(state["model_version"]["version"])
        approval = {"status": "Approved", "reason": "demo: approved by MLOps after review"}
        refused = http.post(f"/model-package-groups/{GROUP}/versions/{version}/approval", json=approval, headers=sci)
        say(f"demo-scientist approving it: HTTP {refused.status_code} ({refused.json().get('message')})")
        approved = http.post(f"/model-package-groups/{GROUP}/versions/{version}/approval", json=approval, headers=ops)
        approved.raise_for_status()
        say(f"demo-mlops approving it: HTTP {approved.status_code}, {approved.json().get('status', 'Approved')}")
        variants = [{"name": "AllTraffic", "model": f"{GROUP}:{version}", "workers": 1}]
        t0 = time.perf_counter()
        if http.get(f"/endpoints/{ENDPOINT}", headers=ops).status_code == 200:
            deployed = http.put(f"/endpoints/{ENDPOINT}", json={"variants": variants}, headers=ops)
        else:
            deployed = http.post("/endpoints", json={"name": ENDPOINT, "variants": variants}, headers=ops)
            state.setdefault("cleanups", []).append(lambda: _delete(secure))
        deployed.raise_for_status()
        body = deployed.json()
        say(f"demo-mlops deployed it: endpoint/{ENDPOINT} v{body['version']} {body['status']} in {time.perf_counter() - t0:.1f}s")
        invoked = http.post(f"/endpoints/{ENDPOINT}/invocations", content=_row(secure, state, version), headers={**ops, "content-type": "text/csv"})
        say(f"demo-mlops invoked it through the server: HTTP {invoked.status_code} -> {invoked.text.strip()[:60]}")
        out.update({
            "model": f"model/{GROUP}:{version}", "scientist_register": 201 if job else None,
            "scientist_approve": refused.status_code, "mlops_approve": approved.status_code,
            "mlops_deploy": deployed.status_code, "endpoint_version": body["version"], "invoke": invoked.status_code,
        })  # fmt: skip
    trail = AuditLog(ws).records(since=started)
    say(f"audit trail of this stage ({len(trail)} records):")
    for r in trail:
        when = dt.datetime.fromtimestamp(r.time, dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        say(f"  {when}  {r.principal:<15} {r.action:<22} {r.resource:<22} {r.outcome}")
    problems = AuditLog(ws).verify()
    say(f"audit verify: {'intact' if not problems else '; '.join(problems)}")
    out["audit"] = [{"principal": r.principal, "action": r.action, "resource": r.resource, "outcome": r.outcome} for r in trail]
    out["audit_intact"] = not problems
    state["summary"]["security"] = out


def _delete(ws: Any) -> None:
    from forgeml.errors import NotFoundError

    with contextlib.suppress(NotFoundError):
        ws.endpoints.delete(ENDPOINT)


def _row(ws: Any, state: dict[str, Any], version: int) -> str:
    """One held-out row as CSV, in the model's feature order."""
    from forgeml.registry.package import read_manifest

    columns = read_manifest(ws.registry.download(f"{GROUP}:{version}")).feature_names
    test = state["test"]
    return str(ws.datasets.read(test.name, test.version)[columns].head(1).to_csv(header=False, index=False))

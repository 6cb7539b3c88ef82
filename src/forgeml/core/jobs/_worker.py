"""Worker process: imports the job's entrypoint and calls it with a :class:`JobContext`.

Run as ``python -m forgeml.core.jobs._worker JOB``. Exit code 0 means success; on an exception
the reason is written to ``<workdir>/failure`` (SageMaker's ``/opt/ml/output/failure``) and the
process exits 1.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path


def main(job_name: str) -> int:
    from forgeml.core.jobs._context import JobContext
    from forgeml.core.workspace import Workspace
    from forgeml.settings import load_settings

    workspace = Workspace(load_settings(), reconcile=False, migrate=False)
    job = workspace.metadata.get_job(job_name)
    workdir = workspace.jobs.workdir(job_name)
    failure = workdir / "failure"
    try:
        module_name, _, func_name = job.entrypoint.partition(":")
        bundle = job.config.get("code_bundle")  # an uploaded folder the entrypoint comes from
        if bundle:
            folder = workspace.artifacts.get_dir(bundle, workdir / "code").resolve()
            sys.path.insert(0, str(folder))
        module = importlib.import_module(module_name)
        if bundle and not Path(getattr(module, "__file__", None) or "/").resolve().is_relative_to(folder):
            raise ImportError(f"entrypoint {job.entrypoint!r} is not a module of code bundle {bundle}")
        func = getattr(module, func_name)
        ctx = JobContext(workspace, job, workdir)
        if job.handle.get("checkpoint") and job.attempts > 1:
            workspace.artifacts.get_dir(job.handle["checkpoint"], ctx.checkpoint_dir)
            ctx.log(f"[forgeml] restored checkpoint {job.handle['checkpoint'][:12]} (attempt {job.attempts})")
        func(ctx)
    except Exception as exc:  # every failure becomes the job's reason, never a lost traceback
        traceback.print_exc()
        reason = f"{type(exc).__name__}: {exc}"
        Path(failure).write_text(reason[:1024])
        return 1
    finally:
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

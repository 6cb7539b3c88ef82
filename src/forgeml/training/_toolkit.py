"""SageMaker's training-toolkit contract: the ``/opt/ml`` layout and the ``SM_*`` environment.

The job's workdir holds ``ml/`` laid out like ``/opt/ml``::

    ml/input/config/hyperparameters.json   every value a string (as SageMaker stores them)
    ml/input/config/resourceconfig.json    {"current_host": "algo-1", "hosts": ["algo-1"], ...}
    ml/input/config/inputdataconfig.json   {"train": {"ContentType": ..., "TrainingInputMode": "File", ...}}
    ml/input/data/<channel>/               the channel's files
    ml/model/                              SM_MODEL_DIR: what the script saves becomes the artifact
    ml/output/data/                        SM_OUTPUT_DATA_DIR
    ml/output/failure                      a reason the script may write before exiting non-zero
    ml/code/                               the script's source folder

and the script sees the variables the toolkit sets (names and formats from
aws/sagemaker-training-toolkit ENVIRONMENT_VARIABLES.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from forgeml.training._device import gpu_count
from forgeml.training._hyperparams import hyperparameter_strings

HOST = "algo-1"


def _env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def user_args(hyperparameters: dict[str, Any]) -> list[str]:
    """Hyperparameters as command-line arguments, the toolkit's way: ``--name value`` in name order."""
    args: list[str] = []
    for key in sorted(hyperparameters):
        value = hyperparameters[key]
        if isinstance(value, dict):
            value = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
        args += [f"--{key}" if len(key) > 1 else f"-{key}", str(value)]
    return args


def layout(root: Path, channels: dict[str, dict[str, Any]], hyperparameters: dict[str, Any], cpus: int) -> dict[str, Path]:
    """Create the ``/opt/ml``-style folders and config files under ``root``; return the paths."""
    paths = {
        "input": root / "input", "config": root / "input" / "config", "data": root / "input" / "data",
        "model": root / "model", "output": root / "output", "output_data": root / "output" / "data",
        "intermediate": root / "output" / "intermediate", "code": root / "code",
    }  # fmt: skip
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    (paths["config"] / "hyperparameters.json").write_text(json.dumps(hyperparameter_strings(hyperparameters), indent=2))
    (paths["config"] / "resourceconfig.json").write_text(json.dumps(resource_config(cpus), indent=2))
    (paths["config"] / "inputdataconfig.json").write_text(json.dumps(input_data_config(channels), indent=2))
    return paths


def resource_config(cpus: int) -> dict[str, Any]:
    return {"current_host": HOST, "hosts": [HOST], "network_interface_name": "lo", "current_group_name": "homogeneousCluster",
            "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": f"local-{cpus}cpu", "hosts": [HOST]}]}  # fmt: skip


def input_data_config(channels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        name: {"ContentType": src.get("content_type"), "TrainingInputMode": "File",
               "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
        for name, src in sorted(channels.items())
    }  # fmt: skip


def environment(
    paths: dict[str, Path],
    *,
    job_name: str,
    script: str,
    channels: dict[str, dict[str, Any]],
    hyperparameters: dict[str, Any],
    cpus: int,
    checkpoint_dir: Path,
    seed: int,
    gpus: int | None = None,
) -> dict[str, str]:
    """The ``SM_*`` variables of a script-mode job (plus ``SM_CHECKPOINT_DIR`` and ``FORGEML_SEED``).

    ``gpus`` defaults to what :func:`~forgeml.training._device.gpu_count` discovers on this machine.
    """
    gpus = gpu_count() if gpus is None else gpus
    module = Path(script).with_suffix("").as_posix().replace("/", ".")
    args = user_args(hyperparameters)
    channel_dirs = {name: str(paths["data"] / name) for name in sorted(channels)}
    training_env = {
        "additional_framework_parameters": {}, "channel_input_dirs": channel_dirs, "current_host": HOST,
        "framework_module": None, "hosts": [HOST], "hyperparameters": hyperparameters,
        "input_config_dir": str(paths["config"]), "input_data_config": input_data_config(channels),
        "input_dir": str(paths["input"]), "is_master": True, "job_name": job_name, "log_level": 20,
        "master_hostname": HOST, "model_dir": str(paths["model"]), "module_dir": str(paths["code"]),
        "module_name": module, "network_interface_name": "lo", "num_cpus": cpus, "num_gpus": gpus,
        "output_data_dir": str(paths["output_data"]), "output_dir": str(paths["output"]),
        "output_intermediate_dir": str(paths["intermediate"]), "resource_config": resource_config(cpus),
        "user_entry_point": script,
    }  # fmt: skip
    env = {
        "SM_MODEL_DIR": str(paths["model"]), "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_HPS": json.dumps(hyperparameters, sort_keys=True), "SM_OUTPUT_DATA_DIR": str(paths["output_data"]),
        "SM_OUTPUT_DIR": str(paths["output"]), "SM_OUTPUT_INTERMEDIATE_DIR": str(paths["intermediate"]),
        "SM_INPUT_DIR": str(paths["input"]), "SM_INPUT_CONFIG_DIR": str(paths["config"]),
        "SM_NUM_CPUS": str(cpus), "SM_NUM_GPUS": str(gpus), "SM_CURRENT_HOST": HOST, "SM_HOSTS": json.dumps([HOST]),
        "SM_NETWORK_INTERFACE_NAME": "lo", "SM_LOG_LEVEL": "20", "SM_MODULE_NAME": module,
        "SM_MODULE_DIR": str(paths["code"]), "SM_USER_ENTRY_POINT": script, "SM_FRAMEWORK_PARAMS": "{}",
        "SM_RESOURCE_CONFIG": json.dumps(resource_config(cpus)), "SM_INPUT_DATA_CONFIG": json.dumps(input_data_config(channels)),
        "SM_USER_ARGS": json.dumps(args), "SM_TRAINING_ENV": json.dumps(training_env), "SM_IS_MASTER": "true",
        "SM_CHECKPOINT_DIR": str(checkpoint_dir), "FORGEML_SEED": str(seed),
        "OMP_NUM_THREADS": str(cpus), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    for name, folder in channel_dirs.items():
        env[f"SM_CHANNEL_{name.upper().replace('-', '_')}"] = folder
    for key, value in hyperparameters.items():
        env[f"SM_HP_{key.upper().replace('-', '_')}"] = _env_value(value)
    pythonpath = os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = str(paths["code"]) + (os.pathsep + pythonpath if pythonpath else "")
    return env


__all__ = ["HOST", "environment", "layout", "user_args"]

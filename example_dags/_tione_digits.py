"""What the TI-ONE examples share: the training task that runs ``tione_ddp/`` (next to this file) on two
DDP workers with its code, data and output in COS, and how their ``prepare_data`` writes arrays to COS.

Not an example of its own (its name starts with "_", and .airflowignore skips it): the example files import
it from their folder, which Airflow puts on ``sys.path`` for the files it parses and the tasks it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CODE_DIR = str(Path(__file__).resolve().parent / "tione_ddp")


def ddp_training(data_prefix: str, output_path: str) -> dict[str, Any]:
    """A CreateTrainingTaskOperator's arguments for ``tione_ddp/train_ddp.py`` on two workers in the
    ``bucket`` param's bucket (in ``cos_region``).

    ``code_dir`` is packed into the bucket as the code package; ``TrainingMode=DDP``: each worker sees
    RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT; the workers read ``data_prefix`` of the bucket at
    ``/opt/ml/input/data/`` and write to ``output_path`` of it (a task's outputs go under
    ``<output_path><task Id>/``: ``output_prefix``). The task waits deferred, in the triggerer; its logs
    still stream into the Airflow task log.
    """
    bucket = {"Bucket": "{{ params.bucket }}", "Region": "{{ params.cos_region }}"}
    return {
        "charge_type": "POSTPAID_BY_HOUR",
        "framework_name": "PYTORCH",
        "framework_environment": "torch1.9-py3.8-cuda11.1-gpu",
        "training_mode": "DDP",
        "resource_config_infos": [{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 2}],
        "code_dir": CODE_DIR,
        "code_bucket": "{{ params.bucket }}",
        "start_cmd": "python train_ddp.py",
        "data_source": "COS",
        "data_configs": [
            {
                "DataSourceType": "COS",
                "MappingPath": "/opt/ml/input/data/",
                "COSSource": {**bucket, "Paths": [data_prefix]},
            }
        ],
        "output_path": {**bucket, "Paths": [output_path]},
        "tags": {"team": "ml"},
        "poll_interval": 1,
        "max_wait": 1800,
        "deferrable": True,
    }


def upload_npz(bucket: str, key: str, **arrays: Any) -> str:
    """Write ``arrays`` as one compressed ``.npz`` object at ``key`` of ``bucket`` (COS); the key."""
    import tempfile

    import numpy as np

    from airflow_provider_tia.hooks.cos import COSHook

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "arrays.npz"  # np.savez_compressed would add ".npz" to another name
        np.savez_compressed(path, **arrays)
        COSHook().upload_file(path, bucket, key)
    return key

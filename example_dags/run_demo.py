"""`make demo`: run the seed's distributed training DAG against the embedded TI-A emulator.

No cloud account: the emulator (local runner) really runs the job's master, parameter server and two
workers as processes; the task streams their logs and ends with the job's final state.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".airflow-demo"
DAG_ID = "example_tia_distributed"


def main() -> int:
    HOME.mkdir(exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME}/airflow.db",
        }
    )
    print("==> preparing Airflow's metadata DB in", HOME, flush=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)

    from airflow_provider_tia.emulator import TIAEmulator

    model_dir = HOME / "model"
    with TIAEmulator(runner="local", state_dir=HOME / "emulator") as emulator:
        print(f"==> TI-A emulator listening on {emulator.url}", flush=True)
        os.environ["AIRFLOW_CONN_TENCENTCLOUD_DEFAULT"] = emulator.connection_uri_json()

        from airflow.dag_processing.dagbag import DagBag

        dag = DagBag(dag_folder=str(ROOT / "example_dags" / f"{DAG_ID}.py")).get_dag(DAG_ID)
        if dag is None:
            print(f"could not load {DAG_ID}", file=sys.stderr)
            return 1
        print(f"==> running DAG {DAG_ID} with dag.test()", flush=True)
        run = dag.test(run_conf={"model_dir": str(model_dir)})
        jobs = emulator.store.list("ap-beijing")
        for job in jobs:
            print(f"==> TI-A job {job.get('Name')}: {job.get('State')} ({job.get('Message')})")

    model = model_dir / "digits_sgd.pkl"
    state = getattr(run, "state", None)
    print(f"==> DAG run state: {state}")
    print(f"==> model saved to {model}" if model.exists() else "==> no model was saved")
    return 0 if str(state) in ("success", "DagRunState.SUCCESS") and model.exists() else 1


if __name__ == "__main__":
    sys.exit(main())

"""DAG-parse cost: what importing our operators adds to a DAG file, vs what SageMaker's add.

Three DAG files differing only in their operators are executed in fresh interpreters, interleaved:
(a) core operators only, (b) + CreateJobOperator and JobSensor, (c) + SageMakerTrainingOperator and
SageMakerTrainingSensor (needs apache-airflow-providers-amazon: `make bench` installs it in
.venv-bench only). Prints medians and the ratios (b-a)/a and (b-a)/(c-a).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROUNDS = int(os.environ.get("BENCH_PARSE_ROUNDS", "15"))

HEADER = """
import pendulum
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.bash import BashOperator
{imports}
with DAG("bench", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False) as dag:
    start = EmptyOperator(task_id="start")
    prepare = BashOperator(task_id="prepare", bash_command="echo prepare")
    start >> prepare
{tasks}
"""

VARIANTS = {
    "a_core": ("", ""),
    "b_tia": (
        "from airflow_provider_tia.operators.tia import CreateJobOperator\n"
        "from airflow_provider_tia.sensors.tia import JobSensor\n",
        textwrap.indent(
            'train = CreateJobOperator(task_id="train", name="job-{{ ds_nodash }}", cluster="ap-beijing",\n'
            '    runtime_version="tia-1.7.0", command=["python"], args=["train.py"])\n'
            'wait = JobSensor(task_id="wait", job_name="other", cluster="ap-beijing")\n'
            "prepare >> train >> wait\n",
            "    ",
        ),
    ),
    "c_sagemaker": (
        "from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator\n"
        "from airflow.providers.amazon.aws.sensors.sagemaker import SageMakerTrainingSensor\n",
        textwrap.indent(
            'train = SageMakerTrainingOperator(task_id="train", config={"TrainingJobName": "job"})\n'
            'wait = SageMakerTrainingSensor(task_id="wait", job_name="other")\n'
            "prepare >> train >> wait\n",
            "    ",
        ),
    ),
}

TIMER = (
    "import time, runpy, sys; t = time.process_time(); runpy.run_path(sys.argv[1]); "
    "print(time.process_time() - t)"
)


def parse_once(path: Path) -> float:
    result = subprocess.run(
        [sys.executable, "-c", TIMER, str(path)], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for name, (imports, tasks) in VARIANTS.items():
            paths[name] = Path(folder) / f"{name}.py"
            paths[name].write_text(HEADER.format(imports=imports, tasks=tasks))
        for path in paths.values():  # warm the OS file cache and .pyc files
            parse_once(path)
        samples: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(ROUNDS):
            for name, path in paths.items():
                samples[name].append(parse_once(path))
    a, b, c = (statistics.median(samples[n]) for n in ("a_core", "b_tia", "c_sagemaker"))
    print(f"## DAG parse cost ({ROUNDS} fresh interpreters per variant, interleaved, median)")
    print("| DAG file | median parse CPU s |")
    print("|---|---|")
    for name, value in zip(VARIANTS, (a, b, c), strict=True):
        print(f"| {name} | {value:.3f} |")
    print(f"RESULT parse_overhead_vs_core (b-a)/a = {(b - a) / a:+.2%} (target < 3%)")
    print(f"RESULT parse_overhead_vs_sagemaker (b-a)/(c-a) = {(b - a) / (c - a):.3f} (target < 0.2)")


if __name__ == "__main__":
    main()

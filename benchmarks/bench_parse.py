"""DAG-parse cost: what importing our operators adds to a DAG file, vs what SageMaker's add.

Four DAG files differing only in their operators are executed in fresh interpreters, interleaved:
(a) core operators only, (b) + TI-A's CreateJobOperator and JobSensor, (c) + SageMakerTrainingOperator
and SageMakerTrainingSensor (needs apache-airflow-providers-amazon: `make bench` installs it in
.venv-bench only), (d) + TI-ONE's CreateTrainingTaskOperator and TrainingTaskSensor. Prints medians
and, for each of our DAGs x = b, d, the ratios (x-a)/a and (x-a)/(c-a) and the added CPU (x-a) in ms.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROUNDS = int(os.environ.get("BENCH_PARSE_ROUNDS", "11"))
# Deployed Airflow imports from bytecode (pip compiles it at install; Python writes __pycache__ on first
# import). A shell with PYTHONDONTWRITEBYTECODE would make every fresh interpreter compile every module
# from source, Airflow's included, and measure the compiler: the warm-up run below writes the .pyc files.
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}

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
    "d_tione": (
        "from airflow_provider_tia.operators.tione import CreateTrainingTaskOperator\n"
        "from airflow_provider_tia.sensors.tione import TrainingTaskSensor\n",
        textwrap.indent(
            'train = CreateTrainingTaskOperator(task_id="train", name="task-{{ ds_nodash }}",\n'
            '    charge_type="POSTPAID_BY_HOUR", start_cmd="python train.py",\n'
            '    resource_config_infos=[{"Role": "WORKER", "InstanceType": "TI.S.MEDIUM.POST", "InstanceNum": 1}])\n'
            'wait = TrainingTaskSensor(task_id="wait", training_task_id="train-1")\n'
            "prepare >> train >> wait\n",
            "    ",
        ),
    ),
}
# Our DAG files, each compared with core-only and with SageMaker: (variant, RESULT name prefix).
OURS = (("b_tia", ""), ("d_tione", "tione_"))

TIMER = (
    "import time, runpy, sys; t = time.process_time(); runpy.run_path(sys.argv[1]); "
    "print(time.process_time() - t)"
)


# What our imports alone cost once Airflow's (which every DAG file pays) are loaded: the same fresh
# interpreter imports the core DAG's modules first, then times our imports. Far less noisy than the
# difference of two whole parses on a busy machine.
IMPORT_TIMER = (
    "import time, sys, pendulum; from airflow.sdk import DAG; "
    "from airflow.providers.standard.operators.empty import EmptyOperator; "
    "from airflow.providers.standard.operators.bash import BashOperator; "
    "t = time.process_time(); exec(sys.argv[1]); print(time.process_time() - t)"
)


def import_once(imports: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_TIMER, imports], capture_output=True, text=True, check=True, env=ENV
    )
    return float(result.stdout.strip().splitlines()[-1])


def parse_once(path: Path) -> float:
    result = subprocess.run(
        [sys.executable, "-c", TIMER, str(path)], capture_output=True, text=True, check=True, env=ENV
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
        imports: dict[str, list[float]] = {name: [] for name, _ in OURS}
        for _ in range(ROUNDS):
            for name, path in paths.items():
                samples[name].append(parse_once(path))
            for name, _ in OURS:
                imports[name].append(import_once(VARIANTS[name][0]))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"## DAG parse cost ({ROUNDS} fresh interpreters per variant, interleaved, median)")
    print("| DAG file | median parse CPU s |")
    print("|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value:.3f} |")
    a, c = medians["a_core"], medians["c_sagemaker"]
    for name, key in OURS:
        x, letter = medians[name], name[0]
        print(f"RESULT {key}parse_overhead_vs_core ({letter}-a)/a = {(x - a) / a:+.2%} (target < 1%)")
        alone = statistics.median(imports[name])
        print(
            f"RESULT {key}import_cost our operator+sensor imports after Airflow's = {alone * 1000:.1f} ms "
            f"= {alone / a:.2%} of the core DAG's parse (targets < 10 ms, < 1%)"
        )
        print(
            f"RESULT {key}parse_overhead_vs_sagemaker ({letter}-a)/(c-a) = {(x - a) / (c - a):.3f} "
            "(target < 0.2)"
        )


if __name__ == "__main__":
    main()

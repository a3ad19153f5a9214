"""Apache Airflow provider for Tencent Cloud TI-A training jobs and TI-ONE training tasks."""

from __future__ import annotations

__version__ = "0.1.0"

_HOOK = "airflow_provider_tia.hooks.tia.TIAHook"


def get_provider_info() -> dict:
    """Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "airflow-provider-tia",
        "name": "Tencent Cloud TI-A and TI-ONE",
        "description": "Run Tencent Cloud TI-A training jobs and TI-ONE training tasks as Airflow tasks, "
        "with a local emulator of both.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Tencent Cloud TI-A",
                "external-doc-url": "https://cloud.tencent.com/document/api/851",
                "tags": ["service"],
            },
            {
                "integration-name": "Tencent Cloud TI-ONE",
                "external-doc-url": "https://cloud.tencent.com/document/api/851",
                "tags": ["service"],
            },
        ],
        "hooks": [
            {"integration-name": "Tencent Cloud TI-A", "python-modules": ["airflow_provider_tia.hooks.tia"]},
            {
                "integration-name": "Tencent Cloud TI-ONE",
                "python-modules": ["airflow_provider_tia.hooks.tione"],
            },
        ],
        "operators": [
            {
                "integration-name": "Tencent Cloud TI-A",
                "python-modules": ["airflow_provider_tia.operators.tia"],
            },
            {
                "integration-name": "Tencent Cloud TI-ONE",
                "python-modules": ["airflow_provider_tia.operators.tione"],
            },
        ],
        "sensors": [
            {
                "integration-name": "Tencent Cloud TI-A",
                "python-modules": ["airflow_provider_tia.sensors.tia"],
            },
            {
                "integration-name": "Tencent Cloud TI-ONE",
                "python-modules": ["airflow_provider_tia.sensors.tione"],
            },
        ],
        "triggers": [
            {
                "integration-name": "Tencent Cloud TI-A",
                "python-modules": ["airflow_provider_tia.triggers.tia"],
            },
            {
                "integration-name": "Tencent Cloud TI-ONE",
                "python-modules": ["airflow_provider_tia.triggers.tione"],
            },
        ],
        "extra-links": [
            "airflow_provider_tia.links.tia.TIAJobLink",
            "airflow_provider_tia.links.tione.TIONETaskLink",
            "airflow_provider_tia.links.tione.ModelVersionLink",
            "airflow_provider_tia.links.tione.ModelServiceLink",
        ],
        "config": {
            "tencentcloud": {
                "description": "Tencent Cloud TI-A and TI-ONE provider.",
                "options": {
                    "min_trigger_event_delay": {
                        "description": "Seconds after a deferral before a trigger of this provider fires "
                        "its event, even when the job ended sooner: a trigger that fires within seconds of "
                        "the deferral can meet Airflow's scheduler race in which the deferring try's stale "
                        "executor success fails the resumed task (apache/airflow #67287, #71580).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "30",
                        "default": "30",
                    },
                    "log_requests_per_second": {
                        "description": "Log reads per second, per API action (TI-A QueryLogs, TI-ONE "
                        "DescribeLogs and DescribeTrainingTask), that one triggerer makes for all the "
                        "deferred tasks following live logs through one connection and region. Tencent "
                        "Cloud allows 20 requests per second per action and account for several actions: "
                        "with N triggerers, or workers reading logs too, keep N times this value below "
                        "that. When many tasks share the budget, their lines reach the task log later, "
                        "and what a trigger has not printed when its job ends is printed by the resumed "
                        "task: no line is lost.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "5",
                        "default": "10",
                    },
                },
            }
        },
        "connection-types": [
            {
                "hook-class-name": _HOOK,
                "connection-type": "tencentcloud",
                "hook-name": "Tencent Cloud (TI-A, TI-ONE)",
                # Airflow's form shows a placeholder ("start typing") and suggestions for an extra field
                # only through its schema's "examples"; ui-field-behaviour placeholders reach the
                # standard fields (login, password) only. No "scheme" field: the endpoint URL carries
                # it (http://127.0.0.1:9000), and a stored "http" (4 characters) makes Airflow's secret
                # masker warn in every task log.
                "conn-fields": {
                    "region": {
                        "label": "Region",
                        "description": "Region of the API, e.g. ap-guangzhou (required unless set on the task)",
                        "schema": {
                            "type": ["string", "null"],
                            "examples": ["ap-beijing", "ap-shanghai", "ap-guangzhou", "ap-chengdu"],
                        },
                    },
                    "token": {
                        "label": "Session token",
                        "description": "Token of temporary (STS) credentials; leave empty for permanent keys",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "cos_endpoint": {
                        "label": "COS endpoint",
                        "description": "S3-compatible COS URL for code_dir staging; empty: "
                        "https://cos.<region>.myqcloud.com. A local stand-in: http://127.0.0.1:9100",
                        "schema": {
                            "type": ["string", "null"],
                            "examples": ["https://cos.ap-guangzhou.myqcloud.com"],
                        },
                    },
                    "endpoint": {
                        "label": "Endpoint",
                        "description": "API host or URL for both services; empty: each service's own "
                        "(tia/tione.tencentcloudapi.com). The local emulator: http://127.0.0.1:9000",
                        "schema": {
                            "type": ["string", "null"],
                            "examples": ["tia.tencentcloudapi.com", "http://127.0.0.1:9000"],
                        },
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "schema", "port"],
                    "relabeling": {"login": "SecretId", "password": "SecretKey"},
                    "placeholders": {
                        "login": "AKIDxxxxxxxx (empty: use the Tencent Cloud default credential chain)",
                        "password": "SecretKey of the SecretId",
                    },
                },
            }
        ],
    }

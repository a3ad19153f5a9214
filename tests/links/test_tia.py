"""TIAJobLink: URL form and registration on the operator and the sensor."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from airflow_provider_tia.links.tia import CONSOLE_URL, TIAJobLink, job_url
from airflow_provider_tia.operators.tia import CreateJobOperator
from airflow_provider_tia.sensors.tia import JobSensor


def test_job_url_is_encoded():
    url = job_url("train a&b", "cls-123", "ap-beijing")
    parts = urlsplit(url)
    assert url.startswith(CONSOLE_URL + "?") and parts.netloc == "console.cloud.tencent.com"
    assert parse_qs(parts.query) == {"region": ["ap-beijing"], "cluster": ["cls-123"], "name": ["train a&b"]}


def test_the_job_link_is_on_the_operator_and_the_sensor():
    assert TIAJobLink().name == "TI-A Job"
    for cls in (CreateJobOperator, JobSensor):
        assert any(isinstance(link, TIAJobLink) for link in cls.operator_extra_links)

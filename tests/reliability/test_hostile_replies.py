"""Malformed or hostile API replies give clear provider errors: never a hang, never a raw KeyError."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_tia.exceptions import MalformedResponse, NetworkError, TencentCloudError, TransientError
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.models.tia.job_spec import JobSpec

JOB = {"Name": "x", "Cluster": "c", "State": "Running"}
REPLIES: dict[str, tuple[int, str, bytes]] = {
    "no-job": (200, "application/json", json.dumps({"Response": {"RequestId": "r1"}}).encode()),
    "null-job": (
        200,
        "application/json",
        json.dumps({"Response": {"Job": None, "RequestId": "r1"}}).encode(),
    ),
    "job-is-list": (
        200,
        "application/json",
        json.dumps({"Response": {"Job": [1, 2], "RequestId": "r"}}).encode(),
    ),
    "job-without-name": (
        200,
        "application/json",
        json.dumps({"Response": {"Job": {"State": "Running"}}}).encode(),
    ),
    "no-response": (200, "application/json", json.dumps({"Job": JOB}).encode()),
    "response-is-string": (200, "application/json", json.dumps({"Response": "ok"}).encode()),
    "not-json": (200, "application/json", b"<html>gateway says hello</html>"),
    "not-json-text": (200, "text/html", b"<html>gateway says hello</html>"),
    "error-with-charset": (
        200,
        "application/json; charset=utf-8",
        json.dumps(
            {"Response": {"Error": {"Code": "InternalError", "Message": "boom"}, "RequestId": "r"}}
        ).encode(),
    ),
    "huge": (200, "application/json", b'{"Response": {"Job": {"Name": "' + b"x" * 30_000_000 + b'"'),
    "http-418": (418, "text/plain", b"teapot"),
    "wrong-types": (
        200,
        "application/json",
        json.dumps(
            {"Response": {"Job": {"Name": "x", "State": 7, "CreateTime": 5, "Message": {"a": 1}}}}
        ).encode(),
    ),
    "unknown-state": (
        200,
        "application/json",
        json.dumps({"Response": {"Job": {**JOB, "State": "Hibernating"}, "RequestId": "r"}}).encode(),
    ),
    "jobs-not-list": (
        200,
        "application/json",
        json.dumps({"Response": {"Jobs": {"a": 1}, "RequestId": "r"}}).encode(),
    ),
    "logs-not-list": (
        200,
        "application/json",
        json.dumps({"Response": {"Logs": "x", "RequestId": "r"}}).encode(),
    ),
}


class Hostile(BaseHTTPRequestHandler):
    mode = "no-job"

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.mode == "silent":
            time.sleep(5)  # never answers within the hook's request timeout
            return
        status, content_type, body = REPLIES[self.mode]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


@pytest.fixture
def hook(server, monkeypatch) -> TIAHook:
    conn = {
        "conn_type": "tencentcloud",
        "login": "AKIDhostile",
        "password": "hostile-secret-key",
        "extra": {
            "region": "ap-beijing",
            "endpoint": f"127.0.0.1:{server.server_port}",
            "scheme": "http",
            "request_timeout": 1,
            "max_attempts": 2,
            "retry_backoff": 0.01,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_TIA_HOSTILE", json.dumps(conn))
    return TIAHook("tia_hostile")


@pytest.mark.parametrize(
    "mode",
    [
        "no-job",
        "null-job",
        "job-is-list",
        "job-without-name",
        "no-response",
        "response-is-string",
        "not-json",
        "huge",
    ],
)
def test_unusable_describe_reply_is_malformed_response(hook, mode) -> None:
    Hostile.mode = mode
    with pytest.raises(MalformedResponse) as caught:
        hook.describe_job("x", "c")
    assert "DescribeJob" in str(caught.value)
    assert len(str(caught.value)) < 3000  # the body is not pasted into the message


@pytest.mark.parametrize("mode", ["http-418", "not-json-text"])
def test_non_api_replies_are_network_or_malformed(hook, mode) -> None:
    Hostile.mode = mode
    with pytest.raises((NetworkError, MalformedResponse)):
        hook.describe_job("x", "c")


def test_error_envelope_the_sdk_lets_through_is_still_the_typed_error(hook) -> None:
    # With "application/json; charset=utf-8" the SDK returns an error reply as if it were a success.
    Hostile.mode = "error-with-charset"
    with pytest.raises(TransientError) as caught:
        hook.describe_job("x", "c")
    assert caught.value.code == "InternalError" and caught.value.request_id == "r"
    with pytest.raises(TencentCloudError):
        hook.create_job(JobSpec(name="x", cluster="c", runtime_version="r"))


def test_wrong_types_and_unknown_state_are_read_without_crashing(hook) -> None:
    Hostile.mode = "wrong-types"
    job = hook.describe_job("x", "c")
    assert job.state == "7" and job.create_time is None and job.message is None and not job.is_terminal
    assert json.loads(json.dumps(job.to_dict()))["Name"] == "x"
    Hostile.mode = "unknown-state"
    assert hook.describe_job("x", "c").state == "Hibernating"


def test_list_and_logs_with_wrong_shapes(hook) -> None:
    import pendulum

    Hostile.mode = "jobs-not-list"
    with pytest.raises(MalformedResponse, match="ListJobs"):
        list(hook.list_jobs("c"))
    Hostile.mode = "logs-not-list"
    with pytest.raises(MalformedResponse, match="QueryLogs"):
        list(hook.query_logs("x", "c", pendulum.now("UTC"), pendulum.now("UTC")))


def test_a_server_that_never_answers_does_not_hang(hook) -> None:
    Hostile.mode = "silent"
    started = time.monotonic()
    with pytest.raises(NetworkError):
        hook.describe_job("x", "c")
    assert time.monotonic() - started < 10  # 2 attempts x 1 s timeout, plus backoff


@pytest.mark.parametrize("mode", ["no-job", "not-json", "job-without-name", "http-418"])
def test_async_client_gives_the_same_clear_errors(hook, mode) -> None:
    Hostile.mode = mode

    async def read() -> None:
        async with await hook.async_client() as client:
            await client.describe_job("x", "c")

    with pytest.raises((MalformedResponse, NetworkError)):
        asyncio.run(read())

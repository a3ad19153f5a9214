"""TIAHook against the emulator over real HTTP, signed by the official SDK."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import pendulum
import pytest

from airflow_provider_tia.exceptions import (
    AuthFailure,
    JobAlreadyExists,
    JobNotFound,
    JobVanished,
    JobWaitTimeout,
    TencentCloudConfigError,
    TencentCloudError,
)
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.models.tia.job import Job, JobState
from airflow_provider_tia.models.tia.job_spec import JobSpec

CLUSTER = "ap-beijing"


def spec_for(name: str, workdir, code: str = "print('hello from the job')", **extra) -> JobSpec:
    return JobSpec(
        name=name,
        cluster=CLUSTER,
        runtime_version="tia-1.7.0",
        package_dir=[str(workdir)],
        command=["python", "-c", code],
        **extra,
    )


@pytest.fixture
def hook(tia_connection) -> TIAHook:
    return TIAHook(tia_connection)


def test_seed_job_round_trips_with_times(hook, tia_emulator, tmp_path) -> None:
    spec = JobSpec(
        name="hook-seed-job",
        cluster=CLUSTER,
        runtime_version="tia-1.7.0",
        package_dir=[str(tmp_path)],
        command=["python"],
        args=["-c", "print('x')"],
        scale_tier="Custom",
        master_type="1U1G0P",
        worker_type="1U1G0P",
        parameter_server_type="1U1G0P",
        worker_count=2,
        parameter_server_count=1,
    )
    before = pendulum.now("UTC").subtract(seconds=2)
    job = hook.create_job(spec)
    assert isinstance(job, Job) and job.name == "hook-seed-job"
    assert spec.matches(job)
    assert job.create_time is not None and before <= job.create_time <= pendulum.now("UTC").add(seconds=2)
    assert job.create_time.timezone_name in ("UTC", "+00:00")
    done = hook.wait_for_job("hook-seed-job", CLUSTER, poll_interval=0.2, timeout=60)
    assert done.state is JobState.SUCCEEDED
    assert done.start_time is not None and done.end_time is not None and done.end_time >= done.start_time
    as_dict = done.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict and as_dict["State"] == "Succeeded"


def test_duplicate_name_is_typed_already_exists(hook, tmp_path) -> None:
    hook.create_job(spec_for("hook-dup", tmp_path))
    with pytest.raises(JobAlreadyExists) as caught:
        hook.create_job(spec_for("hook-dup", tmp_path))
    assert caught.value.code == "FailedOperation.AlreadyExists"
    assert caught.value.request_id


def test_describe_missing_job_is_not_found(hook) -> None:
    with pytest.raises(JobNotFound) as caught:
        hook.describe_job("no-such-job", CLUSTER)
    assert caught.value.request_id


def test_list_jobs_iterates_every_page(hook, tia_emulator, tmp_path) -> None:
    cluster = "cls-paging1"
    names = [f"page-{i}" for i in range(7)]
    for name in names:
        hook.create_job(
            JobSpec(
                name=name,
                cluster=cluster,
                runtime_version="r",
                package_dir=[str(tmp_path)],
                command=["python", "-c", "pass"],
            )
        )
    calls_before = tia_emulator.calls["ListJobs"]
    listed = [job.name for job in hook.list_jobs(cluster, page_size=3)]
    assert listed == names
    assert tia_emulator.calls["ListJobs"] - calls_before == 3  # 3 + 3 + 1


def test_delete_job_stops_and_removes_it(hook, tia_emulator, tmp_path) -> None:
    hook.create_job(spec_for("hook-delete", tmp_path, code="import time; time.sleep(60)"))
    tia_emulator.wait_for_state("hook-delete", CLUSTER, "Running", timeout=30)
    assert hook.delete_job("hook-delete", CLUSTER) is True
    with pytest.raises(JobNotFound):
        hook.describe_job("hook-delete", CLUSTER)
    assert hook.delete_job("hook-delete", CLUSTER, missing_ok=True) is False
    with pytest.raises(JobNotFound):
        hook.delete_job("hook-delete", CLUSTER)


def test_query_logs_follows_context_pages(hook, tia_emulator, tmp_path) -> None:
    code = "import sys\nfor i in range(25): print(f'line {i}', flush=True)"
    job = hook.create_job(spec_for("hook-logs", tmp_path, code=code))
    hook.wait_for_job("hook-logs", CLUSTER, poll_interval=0.2, timeout=60)
    calls_before = tia_emulator.calls["QueryLogs"]
    lines = list(
        hook.query_logs(
            "hook-logs",
            CLUSTER,
            job.create_time.subtract(seconds=5),
            pendulum.now("UTC").add(seconds=5),
            limit=10,
        )
    )
    texts = [line.text for line in lines]
    assert texts == [f"line {i}" for i in range(25)]
    assert all(line.pod_name == "hook-logs-master-0" for line in lines)
    assert tia_emulator.calls["QueryLogs"] - calls_before == 3


def test_wait_for_failed_job_returns_it_with_message(hook, tmp_path) -> None:
    hook.create_job(spec_for("hook-fails", tmp_path, code="import sys; sys.exit(4)"))
    job = hook.wait_for_job("hook-fails", CLUSTER, poll_interval=0.2, timeout=60)
    assert job.failed and job.message


def test_wait_is_bounded_by_time(hook, tmp_path) -> None:
    hook.create_job(spec_for("hook-slow", tmp_path, code="import time; time.sleep(60)"))
    started = time.monotonic()
    with pytest.raises(JobWaitTimeout, match="did not finish within 1s"):
        hook.wait_for_job("hook-slow", CLUSTER, poll_interval=5, timeout=1)
    assert time.monotonic() - started < 4
    hook.delete_job("hook-slow", CLUSTER)


def test_job_deleted_while_watched_vanishes(hook, tmp_path) -> None:
    hook.create_job(spec_for("hook-vanish", tmp_path, code="import time; time.sleep(60)"))
    threading.Timer(
        1.0, lambda: TIAHook(hook.tencentcloud_conn_id).delete_job("hook-vanish", CLUSTER)
    ).start()
    with pytest.raises(JobVanished, match="deleted while being watched"):
        hook.wait_for_job("hook-vanish", CLUSTER, poll_interval=0.2, timeout=30)


def test_wrong_secret_key_is_auth_failure_without_secret_in_logs(
    monkeypatch, connect, tia_emulator, caplog
) -> None:
    secret = "wrong-secret-key-d2f1c9"
    connect("tia_badkey", tia_emulator, password=secret)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("tencentcloud_sdk_common").setLevel(logging.DEBUG)
    try:
        with pytest.raises(AuthFailure) as caught:
            TIAHook("tia_badkey").describe_job("x", CLUSTER)
    finally:
        logging.getLogger("tencentcloud_sdk_common").setLevel(logging.WARNING)
    assert caught.value.code == "AuthFailure.SignatureFailure" and caught.value.request_id
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert secret not in caplog.text
    assert secret not in repr(TIAHook("tia_badkey")) and secret not in repr(TIAHook("tia_badkey").settings)


def test_temporary_credentials_token_is_sent_and_never_logged(
    monkeypatch, connect, tia_emulator, caplog
) -> None:
    token = "sts-token-7f3a0b9e"
    tia_emulator.add_credential("AKIDtemporary", "temporary-key-91ab", token=token)
    connect(
        "tia_sts",
        tia_emulator,
        login="AKIDtemporary",
        password="temporary-key-91ab",
        extra={"token": token},
    )
    caplog.set_level(logging.DEBUG)
    sdk_logger = logging.getLogger("tencentcloud_sdk_common")
    sdk_logger.setLevel(logging.DEBUG)
    try:
        ok, message = TIAHook("tia_sts").test_connection()
        connect("tia_sts_missing", tia_emulator, login="AKIDtemporary", password="temporary-key-91ab")
        with pytest.raises(AuthFailure):
            TIAHook("tia_sts_missing").describe_job("x", CLUSTER)
    finally:
        sdk_logger.setLevel(logging.WARNING)
    assert ok, message
    assert token not in caplog.text and "temporary-key-91ab" not in caplog.text


def test_missing_region_names_the_connection(connect, tia_emulator) -> None:
    connect("tia_noregion", tia_emulator, extra={"region": None})
    with pytest.raises(TencentCloudConfigError, match="tia_noregion.*region"):
        TIAHook("tia_noregion").describe_job("x", CLUSTER)
    # region= on the hook is enough
    with pytest.raises(JobNotFound):
        TIAHook("tia_noregion", region="ap-beijing").describe_job("x", CLUSTER)


def test_default_credential_chain_when_no_secret_id(monkeypatch, tia_emulator) -> None:
    body = json.loads(tia_emulator.connection_uri_json())
    monkeypatch.setenv(
        "AIRFLOW_CONN_TIA_CHAIN", json.dumps({"conn_type": "tencentcloud", "extra": body["extra"]})
    )
    tia_emulator.add_credential("AKIDfromchain", "chain-secret-key-5d1c")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDfromchain")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "chain-secret-key-5d1c")
    from airflow_provider_tia.secrets import redact

    assert redact("key=chain-secret-key-5d1c.") == "key=chain-secret-key-5d1c."
    with pytest.raises(JobNotFound):
        TIAHook("tia_chain").describe_job("x", CLUSTER)
    assert redact("key=chain-secret-key-5d1c.") == "key=***."  # a key found by the chain is masked too


def test_no_credentials_anywhere_is_a_clear_error(monkeypatch, tia_emulator, tmp_path) -> None:
    body = json.loads(tia_emulator.connection_uri_json())
    monkeypatch.setenv(
        "AIRFLOW_CONN_TIA_NONE", json.dumps({"conn_type": "tencentcloud", "extra": body["extra"]})
    )
    for name in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TKE_REGION", "TKE_PROVIDER_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(TencentCloudConfigError, match="tia_none.*credential"):
        TIAHook("tia_none").describe_job("x", CLUSTER)


def test_https_is_the_default_scheme(monkeypatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TIA_CLOUD",
        json.dumps(
            {"conn_type": "tencentcloud", "login": "AKID", "password": "k", "extra": {"region": "ap-beijing"}}
        ),
    )
    settings = TIAHook("tia_cloud").settings
    assert settings.scheme == "https" and settings.endpoint is None
    monkeypatch.setenv(
        "AIRFLOW_CONN_TIA_URL",
        json.dumps(
            {
                "conn_type": "tencentcloud",
                "login": "AKID",
                "password": "k",
                "extra": {"region": "ap-beijing", "endpoint": "http://127.0.0.1:9000"},
            }
        ),
    )
    settings = TIAHook("tia_url").settings
    assert (settings.scheme, settings.endpoint) == ("http", "127.0.0.1:9000")


def test_test_connection_reports_both_outcomes(connect, tia_emulator, hook) -> None:
    ok, message = hook.test_connection()
    assert ok and "RequestId" in message
    connect("tia_bad", tia_emulator, login="AKIDunknown")
    ok, message = TIAHook("tia_bad").test_connection()
    assert not ok and "AuthFailure.SecretIdNotFound" in message


def test_client_is_built_once_per_hook(hook) -> None:
    assert hook.client is hook.client


def test_async_client_reads_jobs(hook, tmp_path) -> None:
    hook.create_job(spec_for("hook-async", tmp_path))

    async def read() -> tuple[Job, list[Job], bool]:
        async with await TIAHook(hook.tencentcloud_conn_id).async_client() as client:
            job = await client.describe_job("hook-async", CLUSTER)
            page = await client.list_jobs_page(CLUSTER, 0, 100)
            with pytest.raises(JobNotFound):
                await client.describe_job("no-such-job", CLUSTER)
            return job, page, await client.delete_job("no-such-job", CLUSTER)

    job, page, deleted = asyncio.run(read())
    assert job.name == "hook-async"
    assert "hook-async" in [j.name for j in page]
    assert deleted is False


def test_every_api_error_is_a_tencent_cloud_error(hook) -> None:
    with pytest.raises(TencentCloudError):
        hook.call("NoSuchAction", {})


def test_calls_go_through_the_environments_proxy(monkeypatch, connect, tia_emulator) -> None:
    """The SDK's own transport honours the environment's proxy (HTTP_PROXY for an http endpoint)."""
    import http.client
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import urlsplit

    seen: list[str] = []

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(self.path)
            target = urlsplit(self.path)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
            upstream.request("POST", target.path or "/", body, dict(self.headers))
            reply = upstream.getresponse()
            data = reply.read()
            self.send_response(reply.status)
            for key, value in reply.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        connect("tia_proxied", tia_emulator)
        hook = TIAHook("tia_proxied")
        with pytest.raises(JobNotFound):
            hook.describe_job("no-such-job", CLUSTER)
        assert [path.rstrip("/") for path in seen] == [f"http://{tia_emulator.endpoint}"]
    finally:
        proxy.shutdown()


def test_https_certificates_are_verified(monkeypatch, tmp_path) -> None:
    """A TLS endpoint whose certificate no trusted CA signed is refused (the transport verifies)."""
    import ssl
    import subprocess
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from airflow_provider_tia.exceptions import NetworkError

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    answered: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            answered.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv(
            "AIRFLOW_CONN_TIA_SELF_SIGNED",
            json.dumps(
                {
                    "conn_type": "tencentcloud",
                    "login": "AKID",
                    "password": "key-self-signed",
                    "extra": {
                        "region": "ap-beijing",
                        "endpoint": f"127.0.0.1:{server.server_port}",
                        "max_attempts": 1,
                    },
                }
            ),
        )
        with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            TIAHook("tia_self_signed").describe_job("x", CLUSTER)
        assert answered == []
    finally:
        server.shutdown()

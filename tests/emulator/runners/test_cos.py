"""cos:// PackageDir entries in the local runner, fetched from moto's S3 server standing in for COS."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from typing import TYPE_CHECKING

import pytest

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.emulator.__main__ import build_parser
from airflow_provider_tia.emulator.runners.cos import parse_cos_entry, safe_extract
from airflow_provider_tia.hooks.cos import COSHook
from airflow_provider_tia.staging import stage_code_dir

from ..helpers.tia import CLUSTER, client, req, unique

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="module")
def cos_emu(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TIAEmulator]:
    with TIAEmulator(
        runner="local", state_dir=tmp_path_factory.mktemp("emu-cos"), cos_endpoint=moto_url
    ) as e:
        yield e


@pytest.fixture
def hook(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> COSHook:
    conn = {
        "conn_type": "tencentcloud",
        "login": "AKIDcos",
        "password": "cos-secret",
        "extra": {"region": "ap-beijing", "cos_endpoint": moto_url},
    }
    monkeypatch.setenv("AIRFLOW_CONN_TIA_EMU_COS", json.dumps(conn))
    return COSHook("tia_emu_cos")


@pytest.fixture
def bucket(hook: COSHook) -> str:
    name = f"code{uuid.uuid4().hex[:8]}-1250000000"
    hook.client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "ap-beijing"})
    return name


def run_job(emu: TIAEmulator, package_dir: list[str], args: list[str]) -> tuple[dict, list[str]]:
    name = unique("cos")
    client(emu).CreateJob(
        req(
            "CreateJob",
            Name=name,
            Cluster=CLUSTER,
            RuntimeVersion="tia-1.7.0",
            PackageDir=package_dir,
            Command=["python"],
            Args=args,
        )
    )
    job = emu.wait_for_state(name, CLUSTER, timeout=20)
    logs = (
        client(emu)
        .QueryLogs(
            req(
                "QueryLogs",
                JobName=name,
                Cluster=CLUSTER,
                StartTime="2000-01-01 00:00:00",
                EndTime="2100-01-01 00:00:00",
                Limit=100,
            )
        )
        .Logs
        or []
    )
    return job, [log.Log for log in logs]


def test_job_runs_code_staged_to_cos(cos_emu, hook, bucket, tmp_path) -> None:
    code = tmp_path / "code"
    (code / "lib").mkdir(parents=True)
    (code / "lib" / "greeting.py").write_text("TEXT = 'hello from staged code'\n")
    (code / "data.txt").write_text("read via cwd")
    (code / "train.py").write_text(
        "import os\nfrom lib.greeting import TEXT\nprint(TEXT, open('data.txt').read(), os.getcwd())\n"
    )
    staged = stage_code_dir(hook, code, bucket)
    job, lines = run_job(cos_emu, [staged.package_dir_entry], ["train.py"])
    assert job["State"] == "Succeeded", job["Message"]
    assert job["PackageDir"] == [staged.package_dir_entry]
    assert any(line.startswith("hello from staged code read via cwd /") for line in lines), lines
    cwd = next(line for line in lines if line.startswith("hello")).rsplit(" ", 1)[1]
    assert cwd.endswith("/package/0/code") and not cwd.startswith(str(code))


def test_a_cos_folder_is_downloaded(cos_emu, hook, bucket) -> None:
    hook.client.put_object(Bucket=bucket, Key="jobs/a/main.py", Body=b"import helper\nprint(helper.X)\n")
    hook.client.put_object(Bucket=bucket, Key="jobs/a/helper.py", Body=b"X = 'folder ok'\n")
    job, lines = run_job(
        cos_emu, [f"cos://{bucket}.cos.ap-beijing.myqcloud.com/jobs/a:/opt/code"], ["main.py"]
    )
    assert job["State"] == "Succeeded", job["Message"]
    assert "folder ok" in lines


def test_missing_object_fails_the_job(cos_emu, bucket) -> None:
    entry = f"cos://{bucket}.cos.ap-beijing.myqcloud.com/tia-code/0123/code.tar.gz:/opt/tia/code"
    job, _ = run_job(cos_emu, [entry], ["train.py"])
    assert job["State"] == "Failed"
    assert "could not be fetched" in job["Message"] and "tia-code/0123/code.tar.gz" in job["Message"]


def test_without_cos_endpoint_cos_entries_fail_clearly(emu) -> None:
    job, _ = run_job(emu, ["cos://code-1250000000.cos.ap-beijing.myqcloud.com/x/code.tar.gz:/opt"], ["t.py"])
    assert job["State"] == "Failed"
    assert "scheme cos:// is not supported by the local runner" in job["Message"]


def _tar(path: Path, *members: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            tar.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    "member",
    [
        _member("../evil.py"),
        _member("/abs.py"),
        _member("a/../../evil.py"),
        _member("up", tarfile.SYMTYPE, "../../etc"),
        _member("abs", tarfile.SYMTYPE, "/etc/passwd"),
        _member("hard", tarfile.LNKTYPE, "../x"),
        _member("dev", tarfile.CHRTYPE),
    ],
    ids=["dotdot", "absolute", "nested-dotdot", "symlink-up", "symlink-abs", "hardlink-up", "device"],
)
def test_safe_extract_refuses_unsafe_members(tmp_path, member) -> None:
    archive = _tar(tmp_path / "a.tar.gz", _member("ok.py"), member)
    dest = tmp_path / "out" / "code"
    dest.mkdir(parents=True)
    with pytest.raises(ValueError, match="refusing archive member"):
        safe_extract(archive, dest)
    assert list(dest.iterdir()) == [] and not (tmp_path / "evil.py").exists()


def test_safe_extract_keeps_inner_links(tmp_path) -> None:
    archive = _tar(
        tmp_path / "a.tar.gz",
        _member("pkg", tarfile.DIRTYPE),
        _member("pkg/m.py"),
        _member("alias.py", tarfile.SYMTYPE, "pkg/m.py"),
    )
    safe_extract(archive, tmp_path)
    assert (tmp_path / "alias.py").read_text() == "x"


def test_cos_entry_reads_bucket_region_key_and_mount_path() -> None:
    ref = parse_cos_entry("cos://code-1250000000.cos.ap-beijing.myqcloud.com/a/b/code.tar.gz:/opt/tia/code")
    assert (ref.bucket, ref.region, ref.key, ref.mount_path) == (
        "code-1250000000",
        "ap-beijing",
        "a/b/code.tar.gz",
        "/opt/tia/code",
    )
    assert parse_cos_entry("cos://b-1.cos.ap-guangzhou.myqcloud.com/dir").mount_path is None
    for bad in ("cos://bucket.example.com/x", "cos://b-1.cos.ap-beijing.myqcloud.com/", "nfs://h/x"):
        with pytest.raises(ValueError):
            parse_cos_entry(bad)


def test_cos_endpoint_needs_the_local_runner() -> None:
    args = build_parser().parse_args(
        ["--cos-endpoint", "http://127.0.0.1:9", "--cos-access-key", "ak", "--cos-secret-key", "sk"]
    )
    assert (args.cos_endpoint, args.cos_access_key, args.cos_secret_key) == ("http://127.0.0.1:9", "ak", "sk")
    emu = TIAEmulator(runner="local", cos_endpoint="http://127.0.0.1:9")
    assert "cos" in emu.runner.package_resolvers
    with pytest.raises(ValueError, match="local runner"):
        TIAEmulator(runner="simulated", cos_endpoint="http://127.0.0.1:9")

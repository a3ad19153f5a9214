"""COSHook and stage_code_dir against moto's S3 server standing in for COS."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import sys
import tarfile
import uuid
from typing import TYPE_CHECKING

import pytest

from airflow_provider_tia.compat import AirflowFailException
from airflow_provider_tia.exceptions import CodeDirError, COSError, JobSpecError, TencentCloudConfigError
from airflow_provider_tia.hooks.cos import COSHook
from airflow_provider_tia.staging import build_archive, scan_code_dir, stage_code_dir

if TYPE_CHECKING:
    from pathlib import Path

SECRET_KEY = "cos-secret-" + uuid.uuid4().hex
CONN_ID = "tia_cos_test"


@pytest.fixture
def hook(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> COSHook:
    conn = {
        "conn_type": "tencentcloud",
        "login": "AKIDcostest",
        "password": SECRET_KEY,
        "extra": {"region": "ap-beijing", "cos_endpoint": moto_url},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return COSHook(CONN_ID)


@pytest.fixture
def bucket(hook: COSHook) -> str:
    name = f"code{uuid.uuid4().hex[:8]}-1250000000"
    hook.client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "ap-beijing"})
    return name


def keys(hook: COSHook, bucket: str) -> list[str]:
    return [o["Key"] for o in hook.client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def make_code(root: Path, body: str = "print('hi')") -> Path:
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "train.py").write_text(body)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "util.py").write_text("X = 1\n")
    (root / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"\0junk")
    (root / "stale.pyc").write_bytes(b"\0junk")
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "run.sh", 0o750)
    return root


def test_stage_uploads_a_deterministic_archive(hook, bucket, tmp_path) -> None:
    code = make_code(tmp_path / "code")
    staged = stage_code_dir(hook, code, bucket)
    assert staged.uploaded is True
    assert len(staged.digest) == 64
    assert staged.key == f"tia-code/{staged.digest[:16]}/code.tar.gz"
    assert staged.uri == f"cos://{bucket}.cos.ap-beijing.myqcloud.com/{staged.key}"
    assert staged.package_dir_entry == f"{staged.uri}:/opt/tia/code"
    assert keys(hook, bucket) == [staged.key]
    body = hook.client.get_object(Bucket=bucket, Key=staged.key)["Body"].read()
    assert staged.size == len(body)
    assert body[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == ["pkg", "pkg/__init__.py", "pkg/util.py", "run.sh", "train.py"]  # sorted, no caches
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" for m in members)
    modes = {m.name: m.mode for m in members}
    assert modes == {
        "pkg": 0o755,
        "pkg/__init__.py": 0o644,
        "pkg/util.py": 0o644,
        "run.sh": 0o755,
        "train.py": 0o644,
    }
    head = hook.head_object(bucket, staged.key)
    assert head["Metadata"]["tia-digest"] == staged.digest


def test_unchanged_directory_is_not_uploaded_again(hook, bucket, tmp_path) -> None:
    code = make_code(tmp_path / "code")
    first = stage_code_dir(hook, code, bucket, prefix="team/a/")
    etag = hook.head_object(bucket, first.key)["ETag"]
    os.utime(code / "train.py", (1, 1))  # mtimes do not matter, only content
    second = stage_code_dir(hook, code, bucket, prefix="/team/a")
    assert second.uploaded is False
    assert (second.key, second.digest, second.size) == (first.key, first.digest, first.size)
    assert first.key.startswith("team/a/")
    assert keys(hook, bucket) == [first.key]
    assert hook.head_object(bucket, first.key)["ETag"] == etag


def test_archive_bytes_depend_only_on_content(tmp_path) -> None:
    a, b = make_code(tmp_path / "a"), make_code(tmp_path / "b")
    os.utime(b / "train.py", (12345, 12345))
    build_archive(scan_code_dir(a), tmp_path / "a.tar.gz")
    build_archive(scan_code_dir(b), tmp_path / "b.tar.gz")
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    with gzip.open(tmp_path / "a.tar.gz") as fh:
        assert b"train.py" in fh.read()


def test_different_content_gets_a_different_key(hook, bucket, tmp_path) -> None:
    code = make_code(tmp_path / "code")
    first = stage_code_dir(hook, code, bucket)
    (code / "train.py").write_text("print('changed')")
    second = stage_code_dir(hook, code, bucket)
    assert second.uploaded is True and second.digest != first.digest and second.key != first.key
    assert sorted(keys(hook, bucket)) == sorted([first.key, second.key])
    os.chmod(code / "train.py", 0o755)  # the exec bit is content too
    assert stage_code_dir(hook, code, bucket).key not in (first.key, second.key)


def test_symlinks_inside_are_archived_as_links(hook, bucket, tmp_path) -> None:
    code = make_code(tmp_path / "code")
    (code / "link.py").symlink_to("pkg/util.py")
    (code / "pkgalias").symlink_to(code / "pkg")  # absolute, but inside: stored relative
    staged = stage_code_dir(hook, code, bucket)
    body = hook.client.get_object(Bucket=bucket, Key=staged.key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        links = {m.name: m.linkname for m in tar.getmembers() if m.issym()}
    assert links == {"link.py": "pkg/util.py", "pkgalias": "pkg"}


def _outside_link(tmp_path: Path) -> Path:
    code = make_code(tmp_path / "code")
    (tmp_path / "secret.txt").write_text("nope")
    (code / "escape.txt").symlink_to("../secret.txt")
    return code


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "empty" / "__pycache__").mkdir(parents=True)
    (tmp_path / "empty" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (tmp_path / "empty" / "sub").mkdir()
    return tmp_path / "empty"


def _file(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text("print(1)")
    return tmp_path / "train.py"


@pytest.mark.parametrize(
    ("make", "kwargs", "message"),
    [
        (lambda p: p / "missing", {}, "does not exist"),
        (_file, {}, "is not a directory"),
        (_empty, {}, "is empty"),
        (lambda p: make_code(p / "code"), {"max_bytes": 10}, "limit of 10 bytes"),
        (_outside_link, {}, "symlink 'escape.txt' points outside"),
    ],
    ids=["missing", "not-a-dir", "empty", "too-big", "symlink-escape"],
)
def test_refusals_happen_before_any_upload(hook, bucket, tmp_path, make, kwargs, message) -> None:
    with pytest.raises(CodeDirError, match=message) as info:
        stage_code_dir(hook, make(tmp_path), bucket, **kwargs)
    assert info.value.parameter == "code_dir"
    assert str(info.value).startswith("Invalid parameter code_dir:")
    assert isinstance(info.value, JobSpecError) and isinstance(info.value, AirflowFailException)
    assert keys(hook, bucket) == []


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"bucket": "NoAppId"}, "code_bucket"),
        ({"prefix": "a/../b"}, "code_prefix"),
        ({"mount_path": "relative"}, "mount_path"),
        ({"max_bytes": 0}, "max_bytes"),
    ],
)
def test_bad_arguments_are_refused(hook, bucket, tmp_path, kwargs, parameter) -> None:
    args = {"bucket": bucket, **kwargs}
    with pytest.raises(JobSpecError) as info:
        stage_code_dir(hook, make_code(tmp_path / "code"), **args)
    assert info.value.parameter == parameter
    assert keys(hook, bucket) == []


def test_missing_bucket_is_a_cos_error(hook, tmp_path) -> None:
    with pytest.raises(COSError, match="NoSuchBucket|does not exist") as info:
        stage_code_dir(hook, make_code(tmp_path / "code"), "absent-1250000000")
    assert SECRET_KEY not in str(info.value)


def test_secret_key_never_logged(hook, bucket, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    staged = stage_code_dir(hook, make_code(tmp_path / "code"), bucket)
    stage_code_dir(hook, tmp_path / "code", bucket)
    assert staged.uploaded and caplog.records
    assert SECRET_KEY not in caplog.text
    assert SECRET_KEY not in repr(hook) + repr(hook.settings) + repr(staged)


def test_the_region_picks_the_cloud_endpoint_unless_one_is_given(monkeypatch) -> None:
    conn = {"conn_type": "tencentcloud", "login": "AKID", "password": "k", "extra": {"region": "ap-beijing"}}
    monkeypatch.setenv("AIRFLOW_CONN_TIA_COS_REAL", json.dumps(conn))
    hook = COSHook("tia_cos_real", region="ap-shanghai")
    assert hook.endpoint_url == "https://cos.ap-shanghai.myqcloud.com"
    assert hook.client.meta.config.s3["addressing_style"] == "virtual"
    assert (
        hook.cos_uri("code-1250000000", "/a/b.tar.gz")
        == "cos://code-1250000000.cos.ap-shanghai.myqcloud.com/a/b.tar.gz"
    )
    assert COSHook("tia_cos_real", endpoint_url="http://127.0.0.1:1").endpoint_url == "http://127.0.0.1:1"


def test_missing_boto3_names_the_extra(hook, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(TencentCloudConfigError, match=r"airflow-provider-tia\[cos\]"):
        hook.client  # noqa: B018


def test_a_symlink_target_is_part_of_the_digest(tmp_path) -> None:
    from airflow_provider_tia.staging import content_digest, scan_code_dir

    digests = []
    for target in ("a.py", "b.py"):
        code = tmp_path / target.replace(".py", "")
        code.mkdir()
        (code / "a.py").write_text("print('a')\n")
        (code / "b.py").write_text("print('b')\n")
        (code / "main.py").symlink_to(target)
        digests.append(content_digest(scan_code_dir(code)))
    assert digests[0] != digests[1]  # same files, the link points elsewhere: other code

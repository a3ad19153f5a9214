"""COS PackageDir entries for the local runner, fetched from an S3-compatible endpoint (boto3).

``cos://<bucket>-<appid>.cos.<region>.myqcloud.com/<key>[:<mount path>]``: a key ending in ``.tar.gz``
or ``.tgz`` is downloaded and extracted (safely: no absolute paths, no ``..``, no links leaving the
directory, no devices); any other key is taken as a folder and every object under ``<key>/`` is
downloaded. The resulting directory becomes the replicas' working directory; the mount path is ignored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import re
import tarfile
import threading
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

_HOST = re.compile(
    r"^(?P<bucket>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)\.cos\.(?P<region>[a-z0-9-]+)\.myqcloud\.com$"
)
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


@dataclasses.dataclass(frozen=True)
class COSEntry:
    """A parsed COS PackageDir entry."""

    bucket: str
    region: str
    key: str
    mount_path: str | None


def parse_cos_entry(entry: str) -> COSEntry:
    """Split ``cos://<bucket>.cos.<region>.myqcloud.com/<key>[:<mount path>]``; ValueError if malformed."""
    scheme, sep, rest = entry.partition("://")
    if not sep or scheme.lower() != "cos":
        raise ValueError(f"{entry!r} is not a cos:// address")
    host, _, path = rest.partition("/")
    match = _HOST.match(host.lower())
    if not match:
        raise ValueError(f"{entry!r}: expected host <bucket>-<appid>.cos.<region>.myqcloud.com, got {host!r}")
    key, colon, mount = path.rpartition(":")
    if not colon or not mount.startswith("/"):
        key, mount = path, ""
    if not key.strip("/"):
        raise ValueError(f"{entry!r} names no object key")
    return COSEntry(match["bucket"], match["region"], key.lstrip("/"), mount or None)


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, path]) == root


def safe_extract(archive: str | Path, dest: str | Path) -> None:
    """Extract a ``.tar.gz`` into ``dest``; ValueError on absolute paths, ``..``, escaping links, devices."""
    root = os.path.realpath(dest)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            parts = PurePosixPath(m.name).parts
            if m.name.startswith(("/", "\\")) or PurePosixPath(m.name).is_absolute() or ".." in parts:
                raise ValueError(f"refusing archive member {m.name!r}: absolute path or '..'")
            if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
                raise ValueError(f"refusing archive member {m.name!r}: not a file, directory or link")
            if m.issym() or m.islnk():
                base = os.path.dirname(os.path.join(root, m.name)) if m.issym() else root
                target = os.path.normpath(os.path.join(base, m.linkname))
                if os.path.isabs(m.linkname) or not _inside(root, target):
                    raise ValueError(
                        f"refusing archive member {m.name!r}: link to {m.linkname!r} leaves the directory"
                    )
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, members=members, filter="data")
        else:  # pragma: no cover - Python without PEP 706; members were checked above
            tar.extractall(root, members=members)


class COSResolver:
    """``package_resolvers["cos"]`` for LocalRunner: ``resolver(entry, dest_dir) -> local directory``.

    Example::

        LocalRunner(package_resolvers={"cos": COSResolver("http://127.0.0.1:5000", "AKID", "key")})
    """

    def __init__(self, endpoint: str, access_key: str, secret_key: str, token: str | None = None) -> None:
        if importlib.util.find_spec("boto3") is None:
            raise ValueError("COS PackageDir entries need boto3: pip install 'airflow-provider-tia[cos]'")
        self.endpoint = endpoint
        self._credentials = (access_key, secret_key, token)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"COSResolver(endpoint={self.endpoint!r})"

    def client(self, region: str) -> Any:
        """A boto3 S3 client (path-style addressing) for the endpoint, one per region."""
        with self._lock:
            if region not in self._clients:
                import boto3
                from botocore.config import Config

                access_key, secret_key, token = self._credentials
                self._clients[region] = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self.endpoint,
                    region_name=region,
                    aws_access_key_id=access_key,
                    aws_secret_access_key=secret_key,
                    aws_session_token=token,
                    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
                )
            return self._clients[region]

    def __call__(self, entry: str, dest: Path) -> str:
        from botocore.exceptions import ClientError

        ref = parse_cos_entry(entry)
        client = self.client(ref.region)
        code = Path(dest) / "code"
        code.mkdir(parents=True, exist_ok=True)
        try:
            if ref.key.endswith(ARCHIVE_SUFFIXES):
                archive = Path(dest) / "archive.tar.gz"
                client.download_file(ref.bucket, ref.key, str(archive))
                safe_extract(archive, code)
                archive.unlink()
            else:
                self._download_folder(client, ref, code)
        except ClientError as error:
            raise RuntimeError(
                f"COS object {ref.bucket}/{ref.key} at {self.endpoint}: {_client_error(error)}"
            ) from None
        return str(code)

    def _download_folder(self, client: Any, ref: COSEntry, code: Path) -> None:
        prefix = ref.key.rstrip("/") + "/"
        if not download_tree(client, ref.bucket, prefix, code):
            raise FileNotFoundError(
                f"no object {ref.key!r} nor objects under {prefix!r} in bucket {ref.bucket!r}"
            )

    def fetch(self, region: str, bucket: str, path: str, dest: Path) -> int:
        """Download the object ``path`` or every object under ``path/`` into ``dest`` (keeping relative
        paths) and unpack each ``.tar.gz``/``.tgz`` among them in place; returns how many objects came.
        RuntimeError names the object when COS refuses."""
        from botocore.exceptions import ClientError

        try:
            count = download_tree(self.client(region), bucket, path, dest)
        except ClientError as error:
            raise RuntimeError(f"COS {bucket}/{path} at {self.endpoint}: {_client_error(error)}") from None
        for archive in [
            p for p in Path(dest).rglob("*") if p.is_file() and p.name.endswith(ARCHIVE_SUFFIXES)
        ]:
            safe_extract(archive, archive.parent)
            archive.unlink()
        return count

    def upload(self, region: str, bucket: str, prefix: str, src: Path) -> int:
        """Upload every file under ``src`` to ``<prefix>/<relative path>``; returns how many."""
        from botocore.exceptions import ClientError

        client, count = self.client(region), 0
        base = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
        try:
            for path in sorted(p for p in Path(src).rglob("*") if p.is_file() and not p.is_symlink()):
                client.upload_file(str(path), bucket, base + path.relative_to(src).as_posix())
                count += 1
        except ClientError as error:
            raise RuntimeError(f"COS {bucket}/{base} at {self.endpoint}: {_client_error(error)}") from None
        return count


def _client_error(error: Any) -> str:
    info = error.response.get("Error", {})
    return f"{info.get('Code')} {info.get('Message') or ''}".strip()


def download_tree(client: Any, bucket: str, path: str, dest: Path) -> int:
    """Download the object named ``path`` (kept under its base name) and every object under ``path/``
    (kept under its path relative to it) into ``dest``; keys leaving ``dest`` are refused. Returns how many."""
    prefix = path.rstrip("/") + "/"
    root = os.path.realpath(dest)
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=path):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key == path and not key.endswith("/"):
                rel = PurePosixPath(key).name
            else:
                rel = key[len(prefix) :] if key.startswith(prefix) else ""
            if not rel or rel.endswith("/"):
                continue
            target = os.path.normpath(os.path.join(root, rel))
            if ".." in PurePosixPath(rel).parts or not _inside(root, target):
                raise ValueError(f"refusing object key {key!r}: leaves the folder")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            client.download_file(bucket, key, target)
            count += 1
    return count


@contextlib.contextmanager
def local_cos_server() -> Iterator[str]:
    """moto's S3 server on a free local port, standing in for COS in the demo and the tests (needs
    ``moto[server]``, part of the ``test`` extra); yields its URL."""
    import logging

    from moto.server import ThreadedMotoServer

    from .processes import free_ports

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per S3 request
    port = free_ports(1)[0]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()

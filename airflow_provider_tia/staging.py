"""Stage a local code directory to COS and mount it in a TI-A job through a PackageDir entry.

``stage_code_dir`` packs the directory into a deterministic ``.tar.gz`` (sorted entries, mtime 0,
uid/gid 0, modes normalised to 0644/0755, gzip mtime 0) and uploads it to
``<prefix>/<digest[:16]>/code.tar.gz``, where the digest is the SHA-256 of the directory's content
(paths, kinds, exec bits, bytes, symlink targets). Unchanged code is found by a HEAD and not uploaded
again; different code never lands on the same key, so concurrent tasks never overwrite each other.

What is packed: regular files and directories, except ``__pycache__`` directories and ``*.pyc`` files.
Symlinks whose target lies inside the directory are archived *as symlinks* (relative target), so
links are kept, never followed (no loops, no duplicated content); a symlink pointing outside the
directory is refused, as are sockets, FIFOs and devices.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from airflow_provider_tia.exceptions import CodeDirError, COSError, JobSpecError

if TYPE_CHECKING:
    from airflow_provider_tia.hooks.cos import COSHook

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "tia-code"
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
DEFAULT_MOUNT_PATH = "/opt/tia/code"
ARCHIVE_NAME = "code.tar.gz"
DIGEST_METADATA = "tia-digest"  # object metadata (x-amz-meta-tia-digest) holding the full digest
SKIP_DIRS = frozenset({"__pycache__"})
SKIP_SUFFIXES = (".pyc",)
_BUCKET = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?-[0-9]+"  # compiled on first use (re's cache)
_CHUNK = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class StagedCode:
    """Where staged code lives and how to mount it.

    :param uri: ``cos://<bucket>.cos.<region>.myqcloud.com/<key>``.
    :param package_dir_entry: ``<uri>:<mount_path>``, an item for CreateJob's PackageDir.
    :param key: Object key, ``<prefix>/<digest[:16]>/code.tar.gz``.
    :param digest: Hex SHA-256 of the directory's content.
    :param uploaded: False when the same content was already in the bucket (nothing uploaded).
    :param size: Size of the archive object in bytes.
    """

    uri: str
    package_dir_entry: str
    key: str
    digest: str
    uploaded: bool
    size: int


@dataclasses.dataclass(frozen=True)
class _Entry:
    rel: str  # POSIX path relative to the code dir
    kind: str  # "dir", "file" or "link"
    path: str  # absolute path on disk
    size: int = 0
    executable: bool = False
    target: str = ""  # symlink target, relative to the link's directory


def stage_code_dir(
    hook: COSHook,
    code_dir: str | os.PathLike[str],
    bucket: str,
    prefix: str = DEFAULT_PREFIX,
    max_bytes: int = DEFAULT_MAX_BYTES,
    mount_path: str = DEFAULT_MOUNT_PATH,
) -> StagedCode:
    """Upload ``code_dir`` to COS (unless the same content is there already) and return its PackageDir entry.

    Example::

        staged = stage_code_dir(COSHook(region="ap-beijing"), "/opt/airflow/dags/train", "code-1250000000")
        spec = JobSpec(..., package_dir=[staged.package_dir_entry], command=["python", "train.py"])

    Every check on the arguments and the directory runs before any COS call: ``CodeDirError``
    (parameter ``code_dir``) for a missing path, a non-directory, an empty directory, content over
    ``max_bytes``, a symlink leaving the directory or a special file; ``JobSpecError`` for a bad
    ``code_bucket`` (``<name>-<appid>``), ``code_prefix`` or ``mount_path``. COS failures raise ``COSError``.
    """
    key_prefix = _check_arguments(bucket, prefix, max_bytes, mount_path)
    root = Path(code_dir).expanduser()
    entries = scan_code_dir(root, max_bytes)
    digest = content_digest(entries)
    key = f"{key_prefix}{digest[:16]}/{ARCHIVE_NAME}"
    uri = hook.cos_uri(bucket, key)
    head = hook.head_object(bucket, key)
    if head is not None:
        stored = (head.get("Metadata") or {}).get(DIGEST_METADATA)
        if stored and stored != digest:
            raise COSError(
                f"COS object {bucket}/{key} exists with another content digest ({stored}); not reusing it"
            )
        size, uploaded = int(head.get("ContentLength") or 0), False
        log.info("code_dir %s unchanged (digest %s): reusing %s", root, digest[:16], uri)
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="tia-code-") as tmp:
            archive = Path(tmp) / ARCHIVE_NAME
            build_archive(entries, archive, expected_digest=digest)
            size = archive.stat().st_size
            hook.upload_file(
                archive, bucket, key, metadata={DIGEST_METADATA: digest}, content_type="application/gzip"
            )
        uploaded = True
        log.info(
            "Staged code_dir %s (%d files, %d bytes packed) to %s",
            root,
            sum(e.kind == "file" for e in entries),
            size,
            uri,
        )
    return StagedCode(
        uri=uri, package_dir_entry=f"{uri}:{mount_path}", key=key, digest=digest, uploaded=uploaded, size=size
    )


def _check_arguments(bucket: str, prefix: str, max_bytes: int, mount_path: str) -> str:
    """Validate the non-directory arguments; returns the key prefix (``""`` or ending with ``/``)."""
    if not isinstance(bucket, str) or not re.fullmatch(_BUCKET, bucket):
        raise JobSpecError(
            "code_bucket",
            f"{bucket!r} is not a COS bucket name: expected <name>-<appid>, "
            "lowercase letters, digits and hyphens (e.g. code-1250000000)",
        )
    if not isinstance(prefix, str):
        raise JobSpecError("code_prefix", f"expected a string, got {type(prefix).__name__}")
    stripped = prefix.strip("/")
    parts = stripped.split("/") if stripped else []
    if any(p in ("", ".", "..") for p in parts) or ":" in prefix:
        raise JobSpecError("code_prefix", f"{prefix!r}: use a plain key prefix such as 'tia-code/team-a'")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise JobSpecError("max_bytes", f"expected a positive number of bytes, got {max_bytes!r}")
    if not isinstance(mount_path, str) or not mount_path.startswith("/") or ":" in mount_path:
        raise JobSpecError("mount_path", f"{mount_path!r}: expected an absolute path without ':'")
    return "".join(f"{p}/" for p in parts)


def scan_code_dir(root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[_Entry]:
    """The entries to pack, sorted by path; ``CodeDirError`` (parameter ``code_dir``) on any refusal."""
    if not os.path.lexists(root):
        raise CodeDirError("code_dir", f"{str(root)!r} does not exist")
    if not root.is_dir():
        raise CodeDirError("code_dir", f"{str(root)!r} is not a directory")
    real_root = os.path.realpath(root)
    entries: list[_Entry] = []
    total = 0

    def fail(error: OSError) -> None:
        raise CodeDirError("code_dir", f"cannot read {error.filename!r}: {error.strerror or error}")

    for dirpath, dirnames, filenames in os.walk(real_root, onerror=fail, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            rel = Path(os.path.relpath(path, real_root)).as_posix()
            try:
                st = os.lstat(path)
            except OSError as error:
                fail(error)
            if stat.S_ISLNK(st.st_mode):
                if name in dirnames:
                    dirnames.remove(name)  # never descend through a link
                target = os.path.realpath(path)
                if os.path.commonpath([real_root, target]) != real_root:
                    raise CodeDirError(
                        "code_dir", f"symlink {rel!r} points outside {str(root)!r} (to {target!r})"
                    )
                entries.append(
                    _Entry(rel, "link", path, target=Path(os.path.relpath(target, dirpath)).as_posix())
                )
            elif stat.S_ISDIR(st.st_mode):
                entries.append(_Entry(rel, "dir", path))
            elif stat.S_ISREG(st.st_mode):
                if name.endswith(SKIP_SUFFIXES):
                    continue
                total += st.st_size
                if total > max_bytes:
                    raise CodeDirError(
                        "code_dir",
                        f"{str(root)!r} holds more than the limit of {max_bytes} bytes "
                        f"(max_bytes={max_bytes}); leave data out of the code directory",
                    )
                entries.append(_Entry(rel, "file", path, st.st_size, bool(st.st_mode & 0o111)))
            else:
                raise CodeDirError("code_dir", f"{rel!r} is not a regular file, directory or symlink")
    if not any(e.kind == "file" for e in entries):
        raise CodeDirError(
            "code_dir", f"{str(root)!r} is empty (no files to stage besides __pycache__/*.pyc)"
        )
    entries.sort(key=lambda e: e.rel)
    return entries


def _header(entry: _Entry) -> bytes:
    return f"{entry.kind}\0{entry.rel}\0{int(entry.executable)}\0{entry.size}\0{entry.target}\0".encode()


def content_digest(entries: list[_Entry]) -> str:
    """SHA-256 over every entry's kind, path, exec bit, size, link target and bytes, in order."""
    digest = hashlib.sha256(b"tia-code-v1\0")
    for entry in entries:
        digest.update(_header(entry))
        if entry.kind == "file":
            try:
                with open(entry.path, "rb") as fh:
                    while chunk := fh.read(_CHUNK):
                        digest.update(chunk)
            except OSError as error:
                raise CodeDirError(
                    "code_dir", f"cannot read {entry.rel!r}: {error.strerror or error}"
                ) from None
    return digest.hexdigest()


class _HashingReader:
    def __init__(self, fh: BinaryIO, digest: Any) -> None:
        self.fh, self.digest = fh, digest

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.digest.update(data)
        return data


def build_archive(entries: list[_Entry], dest: Path, *, expected_digest: str | None = None) -> None:
    """Write the deterministic ``.tar.gz``; ``CodeDirError`` if files changed since the digest was taken."""
    import gzip  # here, not at module level: DAG parsing imports this module
    import tarfile

    digest = hashlib.sha256(b"tia-code-v1\0")
    try:
        with (
            open(dest, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for entry in entries:
                digest.update(_header(entry))
                info = tarfile.TarInfo(entry.rel)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if entry.kind == "dir":
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                elif entry.kind == "link":
                    info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.target
                    tar.addfile(info)
                else:
                    info.mode, info.size = (0o755 if entry.executable else 0o644), entry.size
                    with open(entry.path, "rb") as fh:
                        tar.addfile(info, _HashingReader(fh, digest))  # type: ignore[arg-type]
                        if fh.read(1):
                            raise CodeDirError("code_dir", f"{entry.rel!r} changed while being packed")
    except OSError as error:
        raise CodeDirError("code_dir", f"packing failed, did files change meanwhile? {error}") from None
    if expected_digest is not None and digest.hexdigest() != expected_digest:
        raise CodeDirError("code_dir", "files changed while being staged; run the task again")


def stage_for_task(
    hook: COSHook, code_dir: str, bucket: str | None, *, task_log: Any = log, **options: Any
) -> StagedCode:
    """An operator's ``code_dir`` staged to ``bucket`` (``options``: prefix, max_bytes, mount_path; None
    is this module's default); checks come before any call, and what was staged is reported to
    ``task_log`` (the task's log)."""
    if not bucket:
        raise JobSpecError("code_bucket", "is required with code_dir (a COS bucket such as code-1250000000)")
    given = {option: value for option, value in options.items() if value is not None}
    staged = stage_code_dir(hook, code_dir, bucket, **given)
    done = "uploaded" if staged.uploaded else "already in COS, not uploaded again"
    task_log.info("code_dir %s is %s (digest %s, %s)", code_dir, staged.uri, staged.digest[:16], done)
    return staged


def mount_code_dir(
    hook: COSHook, spec: Any, code_dir: str, bucket: str | None, *, task_log: Any = log, **options: Any
) -> Any:
    """TI-A: ``spec`` with ``code_dir`` staged to COS and mounted as its first PackageDir entry, so
    Command/Args run in it."""
    staged = stage_for_task(hook, code_dir, bucket, task_log=task_log, **options)
    return spec.replace(package_dir=[staged.package_dir_entry, *(spec.package_dir or [])])


__all__ = [
    "StagedCode",
    "build_archive",
    "content_digest",
    "mount_code_dir",
    "scan_code_dir",
    "stage_code_dir",
    "stage_for_task",
]

"""Model import, asynchronous as on TI-ONE: a version's files are copied from COS into the emulator's model
store while ``TrainingModelProgress`` climbs 0-100, then the version is STATUS_SUCCESS, or STATUS_FAILED
with ``TrainingModelErrorMsg`` (no COS endpoint, an empty or missing source folder, COS refusing).

The source is a COS folder (every object under it, paths kept relative to it) or a single object. With
``ModelMoveMode=CUT`` the source objects are deleted once copied. A version's tag ``sim.import_seconds``
spreads the copy over that many seconds (to watch the progress); an import interrupted by a restart starts
over. With the simulated runner and no COS endpoint nothing is copied: the import succeeds (after
``sim.import_seconds``) with an empty folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from .repo import FAILED, RUNNING, SUCCESS

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..runners.cos import COSResolver
    from .repo import ModelRepo

log = logging.getLogger(__name__)
MAX_IMPORT_SECONDS = 600.0


def _pace(spec: dict) -> float:
    for tag in spec.get("Tags", []):
        if tag["TagKey"] == "sim.import_seconds":
            try:
                return min(max(float(tag["TagValue"]), 0.0), MAX_IMPORT_SECONDS)
            except ValueError:
                return 0.0
    return 0.0


def source_objects(client: Any, bucket: str, path: str) -> list[tuple[str, str]]:
    """(key, relative path) of the object ``path`` and of every object under ``path/``; a key that would
    leave the folder is refused (ValueError)."""
    prefix = path.rstrip("/") + "/"
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=path):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            rel = (
                PurePosixPath(key).name
                if key == path
                else key[len(prefix) :]
                if key.startswith(prefix)
                else ""
            )
            if not rel or rel.endswith("/"):
                continue
            if ".." in PurePosixPath(rel).parts or rel.startswith("/"):
                raise ValueError(f"refusing object key {key!r}: leaves the folder")
            found.append((key, rel))
    return found


def _restart(version: dict) -> bool:
    version["Progress"] = 0
    return True


class Importer:
    """Runs imports in background threads; ``cos()`` is the emulator's COS resolver, None without one."""

    def __init__(
        self, repo: ModelRepo, cos: Callable[[], COSResolver | None], simulated: bool = False
    ) -> None:
        self.repo, self.cos, self.simulated = repo, cos, simulated

    def start(self, version_id: str) -> None:
        threading.Thread(
            target=self._run, args=(version_id,), name=f"tione-import-{version_id}", daemon=True
        ).start()

    def recover(self) -> None:
        """Start over every import a restart interrupted."""
        for _, version in self.repo.running():
            self.repo.update_version(version["Id"], _restart)
            self.start(version["Id"])

    def _progress(self, version_id: str, percent: int) -> None:
        def fn(v: dict) -> bool:
            if v["Status"] != RUNNING or percent <= v["Progress"]:
                return False
            v["Progress"] = percent
            return True

        self.repo.update_version(version_id, fn)

    def _end(self, version_id: str, status: str, message: str) -> None:
        def fn(v: dict) -> bool:
            if v["Status"] != RUNNING:
                return False
            v.update(Status=status, ErrorMsg=message, Progress=100 if status == SUCCESS else v["Progress"])
            return True

        self.repo.update_version(version_id, fn)

    def _run(self, version_id: str) -> None:
        try:
            self._copy(version_id)
        except Exception as exc:  # any failure is the version's, never the emulator's
            log.info("TI-ONE emulator: import of %s failed: %s", version_id, exc)
            self._end(version_id, FAILED, f"import failed: {str(exc)[:500]}")

    def _copy(self, version_id: str) -> None:
        found = self.repo.version(version_id, None)
        if found is None:
            return
        spec = found[1]["Spec"]
        source = spec["Source"]
        where = f"{source['Bucket']}/{source['Paths'][0]}"
        cos = self.cos()
        if cos is None and self.simulated:  # nothing to copy: the import only takes its time
            time.sleep(_pace(spec))
            self._end(version_id, SUCCESS, "")
            return
        if cos is None:
            self._end(
                version_id, FAILED, f"cannot read {where}: the emulator was started without a COS endpoint"
            )
            return
        client = cos.client(source["Region"])
        objects = source_objects(client, source["Bucket"], source["Paths"][0])
        if not objects:
            self._end(
                version_id, FAILED, f"no model file at or under {where}: the source path is empty or missing"
            )
            return
        final = self.repo.files_dir(version_id)
        partial = final.with_name(final.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        step = _pace(spec) / len(objects)
        for done, (key, rel) in enumerate(objects, 1):
            target = partial / rel
            os.makedirs(target.parent, exist_ok=True)
            client.download_file(source["Bucket"], key, str(target))
            if step:
                time.sleep(step)
            self._progress(version_id, min(99, done * 100 // len(objects)))
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        if self.repo.version(version_id, None) is None:  # deleted while importing
            shutil.rmtree(final, ignore_errors=True)
            return
        if spec.get("ModelMoveMode") == "CUT":
            for key, _ in objects:
                client.delete_object(Bucket=source["Bucket"], Key=key)
        self._end(version_id, SUCCESS, "")

"""OpenLineage for training jobs: their storage as datasets, the job as the run.

Pure functions that operators call from ``get_openlineage_facets_on_complete``; they build nothing
unless ``apache-airflow-providers-openlineage`` is installed (extra ``[openlineage]``) and return
None without it. Importing this module costs only the standard library: every OpenLineage import
happens inside a function, so an operator module may import it at DAG-parse time.

Dataset names follow the OpenLineage naming spec (namespace ``scheme://authority``, name the path):

* COS: namespace ``cosn://<bucket>-<appid>``, name ``/<key>`` (no trailing ``/``). COS has no
  official OpenLineage namespace; ``cosn`` is the scheme of Tencent's Hadoop-COS connector, and
  OpenLineage's generic file-system naming (what its Spark integration applies to ``cosn://`` paths)
  gives exactly this namespace and name, so the datasets join with Spark jobs reading the same data.
  Bucket names carry the APPID and are unique across regions, so the region is not part of the name
  (as for S3). ``s3://`` would claim the data lives on AWS S3.
* Local paths (the emulator's PackageDir): namespace ``file``, name the absolute path, as the
  spec's local file system and Airflow's ``file`` asset conversion; ``file://<host>/<path>`` keeps
  its host (namespace ``file://<host>``).
* NFS, CFS and any other ``scheme://host/path``: namespace ``<scheme>://<host>``, name the absolute
  path (as the spec's HDFS). NFS's ``host:/export`` form reads as host ``host``, path ``/export``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

log = logging.getLogger(__name__)

COS_NAMESPACE_SCHEME = "cosn"
RUN_FACET_KEY = "tencentcloud_training_job"
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")  # RFC 3986


# ------------------------------------------------------------------------------------- locations
@dataclasses.dataclass(frozen=True)
class StorageLocation:
    """Where a mounted path lives: ``scheme`` (``cos``, ``cfs``, ``nfs``, ``file``...), ``authority``
    (host, ``""`` for a local path) and ``path`` (absolute)."""

    scheme: str
    authority: str
    path: str


def split_mount(entry: str) -> tuple[str, str | None]:
    """``<location>:<mount path>`` -> ``(location, mount path)``; ``(entry, None)`` without a mount.

    A trailing ``:/...`` is a mount path only if what precedes it still names a path, so NFS's
    ``nfs://host:/export`` keeps its export path.
    """
    head, colon, mount = entry.rpartition(":")
    if colon and mount.startswith("/") and _names_path(head):
        return head, mount
    return entry, None


def _names_path(location: str) -> bool:
    _, sep, rest = location.partition("://")
    return "/" in rest if sep else location.startswith("/")


def parse_location(entry: str) -> StorageLocation | None:
    """A PackageDir entry (``cos://...``, ``cfs://...``, ``nfs://...``, ``file://...``, ``/dir``,
    each with an optional ``:<mount path>``) as a StorageLocation; None if it names no absolute location."""
    if not isinstance(entry, str):
        return None
    location, _ = split_mount(entry.strip())
    scheme, sep, rest = location.partition("://")
    if not sep:
        return StorageLocation("file", "", location) if location.startswith("/") else None
    scheme = scheme.lower()
    authority, _, path = rest.partition("/")
    authority = authority.rstrip(":").lower()  # NFS writes host:/export
    if scheme == "file" and authority == "localhost":
        authority = ""  # RFC 8089: file://localhost/path is a local path
    if not _SCHEME.match(scheme) or (scheme != "file" and not authority):
        return None
    return StorageLocation(scheme, authority, "/" + path)


def cos_bucket(host: str) -> str:
    """``<bucket>-<appid>.cos.<region>.myqcloud.com`` -> ``<bucket>-<appid>`` (COS bucket names hold no dots)."""
    return host.split(".", 1)[0]


# -------------------------------------------------------------------------------------- datasets
def openlineage_available() -> bool:
    """Whether apache-airflow-providers-openlineage is installed (checked on each call, cheaply once imported)."""
    try:
        import airflow.providers.openlineage.extractors  # noqa: F401
    except ImportError:
        return False
    return True


def cos_dataset(bucket: str, path: str) -> Dataset:
    """A COS object or prefix: namespace ``cosn://<bucket>``, name ``/<key>`` (``/`` for the bucket's root).

    Shared by TI-A's ``cos://`` PackageDir entries and TI-ONE's CosPathInfo ``{Bucket, Region, Paths}``.
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset

    return Dataset(namespace=f"{COS_NAMESPACE_SCHEME}://{bucket.lower()}", name="/" + path.strip("/"))


def filesystem_dataset(scheme: str, authority: str, path: str) -> Dataset:
    """A file-system path: namespace ``<scheme>://<authority>`` (``file`` for a local path), name the
    normalised absolute path. Serves NFS, CFS, HDFS and local directories alike."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    namespace = f"{scheme}://{authority}" if authority else scheme
    return Dataset(namespace=namespace, name=posixpath.normpath("/" + path.lstrip("/")))


def location_dataset(location: StorageLocation) -> Dataset:
    """The dataset of a parsed location (COS by bucket and key, anything else as a file system)."""
    if location.scheme == "cos":
        return cos_dataset(cos_bucket(location.authority), location.path)
    return filesystem_dataset(location.scheme, location.authority, location.path)


def cos_path_info_dataset(info: Mapping[str, Any] | None) -> Dataset | None:
    """TI-ONE's CosPathInfo ``{Bucket, Region, Paths: [one path]}`` as a dataset; None when unset
    (replies carry ``{"Bucket": "", "Region": "", "Paths": []}``)."""
    if not isinstance(info, Mapping) or not info.get("Bucket"):
        return None
    paths = info.get("Paths") or []
    return cos_dataset(str(info["Bucket"]), str(paths[0]) if paths else "")


def package_dir_datasets(entries: Iterable[Any] | None) -> list[Dataset]:
    """Datasets of PackageDir entries, in order, without duplicates; entries naming no location are skipped."""
    if isinstance(entries, str):  # one entry where a list was expected
        entries = [entries]
    datasets: list[Dataset] = []
    for entry in entries or []:
        location = parse_location(entry)
        if location is None:
            log.debug("PackageDir entry %r names no location; left out of the lineage", entry)
            continue
        dataset = location_dataset(location)
        if dataset not in datasets:
            datasets.append(dataset)
    return datasets


# ------------------------------------------------------------------------------------ run facets
@functools.cache
def _training_job_facet_class() -> type:
    """The custom run facet class, defined on first use so that importing this module needs no OpenLineage."""
    from airflow.providers.common.compat.openlineage.facet import RunFacet
    from attrs import define

    @define
    class TrainingJobRunFacet(RunFacet):
        """The Tencent Cloud training job behind an Airflow task: platform (``tia`` / ``tione``), the job's
        Id and Name, where it ran (TI-A cluster, TI-ONE region) and its state when the task ended."""

        platform: str
        jobId: str | None  # noqa: N815 - OpenLineage facets use camelCase
        name: str | None
        location: str | None
        state: str | None

    return TrainingJobRunFacet


def training_job_run_facets(
    platform: str, job_id: str | None, name: str | None, location: str | None, state: str | None
) -> dict[str, Any]:
    """Run facets naming the job: the standard ``externalQuery`` (Id in ``<platform>://<location>``) and
    ``tencentcloud_training_job`` (platform, Id, name, location, state)."""
    from airflow.providers.common.compat.openlineage.facet import ExternalQueryRunFacet

    facets: dict[str, Any] = {
        RUN_FACET_KEY: _training_job_facet_class()(
            platform=platform, jobId=job_id, name=name, location=location, state=state
        )
    }
    if job_id or name:
        facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=str(job_id or name), source=f"{platform}://{location or ''}"
        )
    return facets


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


# ------------------------------------------------------------------------------------------- lineage
def _lineage(inputs: list[Dataset], outputs: list[Dataset], platform: str, *run: Any) -> OperatorLineage:
    """The datasets, and the job (Id, name, location, state) as run facets."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(
        inputs=inputs, outputs=outputs, run_facets=training_job_run_facets(platform, *map(_text, run))
    )


def tia_job_lineage(job: Mapping[str, Any] | None) -> OperatorLineage | None:
    """Lineage of a TI-A job (the dict CreateJobOperator returns): PackageDir entries as inputs, the job
    as run facets. None without the OpenLineage provider or without a job."""
    if not isinstance(job, Mapping) or not openlineage_available():
        return None
    run = ("tia", job.get("Id"), job.get("Name"), job.get("Cluster"), job.get("State"))
    return _lineage(package_dir_datasets(job.get("PackageDir")), [], *run)


def tione_task_lineage(task: Mapping[str, Any] | None) -> OperatorLineage | None:
    """Lineage of a TI-ONE training task (the dict CreateTrainingTaskOperator returns): the code
    package and each DataConfig's COS source as inputs, Output as the output, the task as run facets."""
    if not isinstance(task, Mapping) or not openlineage_available():
        return None
    sources = [task.get("CodePackagePath")]
    sources += [
        config.get("COSSource") for config in task.get("DataConfigs") or [] if isinstance(config, Mapping)
    ]
    inputs: list[Dataset] = []
    for dataset in map(cos_path_info_dataset, sources):
        if dataset is not None and dataset not in inputs:
            inputs.append(dataset)
    output = cos_path_info_dataset(task.get("Output"))
    run = ("tione", task.get("Id"), task.get("Name"), task.get("Region"), task.get("Status"))
    return _lineage(inputs, [output] if output is not None else [], *run)


__all__ = [
    "StorageLocation",
    "cos_dataset",
    "cos_path_info_dataset",
    "filesystem_dataset",
    "location_dataset",
    "openlineage_available",
    "package_dir_datasets",
    "parse_location",
    "split_mount",
    "tia_job_lineage",
    "tione_task_lineage",
    "training_job_run_facets",
]

"""COSHook: Tencent Cloud Object Storage through its S3-compatible API (boto3, extra ``[cos]``).

Credentials come from the same ``tencentcloud`` connection as TIAHook (login = SecretId, password =
SecretKey, extra ``token``); the region from ``region=`` or the connection's extra ``region``. The
connection's extra ``cos_endpoint`` (or ``endpoint_url=``) replaces ``https://cos.<region>.myqcloud.com``,
e.g. to point at a local S3 server in tests. boto3 is imported only when a client is first needed.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.exceptions import COSError, TencentCloudConfigError
from airflow_provider_tia.hooks import sdk
from airflow_provider_tia.hooks.base import TencentCloudConnectionHook
from airflow_provider_tia.secrets import redact

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)
COS_EXTRA = "airflow-provider-tia[cos]"


def import_boto3() -> Any:
    """boto3, or a TencentCloudConfigError naming the extra to install."""
    try:
        import boto3
    except ImportError:
        raise TencentCloudConfigError(
            f"COS access needs boto3, which is not installed: pip install '{COS_EXTRA}'"
        ) from None
    return boto3


def cos_host(bucket: str, region: str) -> str:
    """``<bucket>.cos.<region>.myqcloud.com`` (bucket names read ``<name>-<appid>``)."""
    return f"{bucket}.cos.{region}.myqcloud.com"


class COSHook(TencentCloudConnectionHook):
    """Reads and writes COS objects with boto3 against COS's S3-compatible endpoint.

    Example::

        hook = COSHook(tencentcloud_conn_id="tencentcloud_default", region="ap-beijing")
        if hook.head_object("code-1250000000", "tia-code/abc/code.tar.gz") is None:
            hook.upload_file("/tmp/code.tar.gz", "code-1250000000", "tia-code/abc/code.tar.gz")

    :param tencentcloud_conn_id: Airflow connection id (type ``tencentcloud``), shared with the
        platforms' hooks (``tia_conn_id`` is a deprecated name of it).
    :param region: COS region, overriding the connection's extra ``region``.
    :param endpoint_url: S3 endpoint URL, overriding the connection's extra ``cos_endpoint``.
    """

    hook_name = "Tencent Cloud COS"

    def __init__(
        self,
        tencentcloud_conn_id: str | None = None,
        region: str | None = None,
        *,
        endpoint_url: str | None = None,
        tia_conn_id: str | None = None,
    ) -> None:
        super().__init__(tencentcloud_conn_id, region, tia_conn_id=tia_conn_id)
        self._endpoint_url = endpoint_url

    @cached_property
    def endpoint_url(self) -> str:
        """``endpoint_url=``, else extra ``cos_endpoint``, else ``https://cos.<region>.myqcloud.com``."""
        settings = self.settings
        return str(
            self._endpoint_url
            or settings.extra.get("cos_endpoint")
            or f"https://cos.{settings.region}.myqcloud.com"
        )

    @property
    def is_tencent_endpoint(self) -> bool:
        return self.endpoint_url.rstrip("/").endswith(".myqcloud.com")

    @cached_property
    def client(self) -> Any:
        """A boto3 S3 client for COS (virtual-hosted addressing on COS, path style elsewhere)."""
        boto3 = import_boto3()
        from botocore.config import Config

        settings = self.settings
        if settings.secret_id:
            secret_id, secret_key, token = settings.secret_id, settings.secret_key, settings.token
        else:
            cred = sdk.credential_for(settings)  # the default chain; its secrets are registered there
            secret_id, secret_key, token = cred.secret_id, cred.secret_key, cred.token
        options: dict[str, Any] = {
            "s3": {"addressing_style": "virtual" if self.is_tencent_endpoint else "path"},
            "retries": {"max_attempts": 5, "mode": "standard"},
        }
        try:  # botocore >= 1.36 sends CRC checksums by default; COS expects them only when required.
            config = Config(
                **options,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
        except TypeError:  # pragma: no cover - older botocore
            config = Config(**options)
        log.info("COS client for region %s at %s", settings.region, self.endpoint_url)
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=secret_id,
            aws_secret_access_key=secret_key,
            aws_session_token=token or None,
            config=config,
        )

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError, Boto3Error, OSError) as error:
            raise to_cos_error(what, error) from None

    # ------------------------------------------------------------------------------------- objects
    def cos_uri(self, bucket: str, key: str) -> str:
        """``cos://<bucket>.cos.<region>.myqcloud.com/<key>``, the form TI-A's PackageDir takes."""
        return f"cos://{cos_host(bucket, self.settings.region)}/{key.lstrip('/')}"

    def head_object(self, bucket: str, key: str) -> dict[str, Any] | None:
        """The object's metadata (HEAD), or None when it does not exist."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client
        try:
            return client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 or error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return None
            raise to_cos_error(f"HEAD {bucket}/{key}", error) from None
        except (BotoCoreError, OSError) as error:
            raise to_cos_error(f"HEAD {bucket}/{key}", error) from None

    def upload_file(
        self,
        path: str | Path,
        bucket: str,
        key: str,
        *,
        metadata: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        """Upload a local file (multipart above 8 MiB)."""
        extra: dict[str, Any] = {}
        if metadata:
            extra["Metadata"] = metadata
        if content_type:
            extra["ContentType"] = content_type
        log.info("Uploading %s to COS bucket %s key %s", path, bucket, key)
        self._call(
            f"upload {bucket}/{key}",
            self.client.upload_file,
            Filename=str(path),
            Bucket=bucket,
            Key=key,
            ExtraArgs=extra or None,
        )

    def read_object(self, bucket: str, key: str) -> bytes:
        """An object's content (e.g. a trained model's metrics); ``COSError`` when it is missing."""
        reply = self._call(f"GET {bucket}/{key}", self.client.get_object, Bucket=bucket, Key=key)
        return bytes(reply["Body"].read())


def to_cos_error(what: str, error: BaseException) -> COSError:
    """A botocore/transport error as a COSError (code and RequestId kept, secrets redacted)."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        info = response.get("Error", {})
        return COSError(
            redact(f"COS {what}: {info.get('Message') or error}"),
            code=str(info.get("Code") or "COSError"),
            request_id=response.get("ResponseMetadata", {}).get("RequestId") or None,
        )
    return COSError(redact(f"COS {what}: {type(error).__name__}: {error}"))

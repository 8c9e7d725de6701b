"""Where uploaded files live: a local folder by default, S3-compatible storage when configured.

Without ``S3_BUCKET`` files go under ``<DATA_DIR>/uploads/<folder>``. With it they go to that
bucket (AWS S3, MinIO, Ceph, R2, ... through boto3; ``S3_ENDPOINT_URL`` for anything but AWS),
under the key ``<folder>/<name>``. Either way the app serves them itself, so a bucket can stay
private.
"""

from __future__ import annotations

from pathlib import Path

from mlmcrm.settings import get_settings


class StoredFileMissing(Exception):
    """No stored file has that name."""


def _s3():
    import boto3

    settings = get_settings()
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region or None,
        aws_access_key_id=settings.s3_access_key_id or None,
        aws_secret_access_key=settings.s3_secret_access_key or None,
    )


def uses_s3() -> bool:
    """True when files go to an S3-compatible bucket."""
    return bool(get_settings().s3_bucket)


def _local(folder: str, name: str) -> Path:
    return get_settings().data_dir / "uploads" / folder / name


def put(folder: str, name: str, data: bytes, content_type: str) -> None:
    """Store ``data`` as ``folder/name``."""
    if uses_s3():
        _s3().put_object(
            Bucket=get_settings().s3_bucket,
            Key=f"{folder}/{name}",
            Body=data,
            ContentType=content_type,
        )
        return
    path = _local(folder, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def get(folder: str, name: str) -> bytes:
    """The bytes of ``folder/name``.

    Raises:
        StoredFileMissing: Nothing is stored under that name.
    """
    if uses_s3():
        from botocore.exceptions import ClientError

        try:
            response = _s3().get_object(Bucket=get_settings().s3_bucket, Key=f"{folder}/{name}")
        except ClientError as exc:
            raise StoredFileMissing(name) from exc
        return response["Body"].read()
    path = _local(folder, name)
    if not path.is_file():
        raise StoredFileMissing(name)
    return path.read_bytes()

"""Where uploaded files live: a local folder by default, S3-compatible storage when configured.

Without ``S3_BUCKET`` files go under ``<DATA_DIR>/uploads/<folder>``. With it they go to that
bucket (AWS S3, MinIO, Ceph, R2, ... through boto3; ``S3_ENDPOINT_URL`` for anything but AWS),
under the key ``<folder>/<name>``. Either way the app serves them itself, so a bucket can stay
private.

The functions at the end (keys, download, upload) give backups and restores the whole store.
"""

from __future__ import annotations

import hashlib
import mimetypes
import shutil
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


# Whole-store access for backups: every stored file by its key, ``<folder>/<name>``.


class UnsafeKey(ValueError):
    """A key that is not a relative path of plain names (empty parts, ``..``, backslashes)."""


def check_key(key: str) -> str:
    """Return ``key`` when it is a safe ``folder/name`` path, else raise :class:`UnsafeKey`."""
    parts = key.split("/")
    if not key or "\\" in key or "\x00" in key or any(part in ("", ".", "..") for part in parts):
        raise UnsafeKey(f"{key!r} is not a stored file's name")
    return key


def _local_root() -> Path:
    return get_settings().data_dir / "uploads"


def location() -> str:
    """Where the files are, for people: ``s3://bucket`` or the local folder."""
    if uses_s3():
        return f"s3://{get_settings().s3_bucket}"
    return str(_local_root())


def list_keys() -> list[str]:
    """Every stored file's key, sorted (also keys that are not safe paths, for the caller)."""
    if uses_s3():
        keys: list[str] = []
        paginator = _s3().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=get_settings().s3_bucket):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return sorted(keys)
    root = _local_root()
    if not root.is_dir():
        return []
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink()
    )


def download(key: str, path: Path) -> None:
    """Copy the stored file ``key`` to the local file ``path``.

    Raises:
        StoredFileMissing: Nothing is stored under that key.
    """
    check_key(key)
    if uses_s3():
        from botocore.exceptions import ClientError

        try:
            _s3().download_file(get_settings().s3_bucket, key, str(path))
        except ClientError as exc:
            raise StoredFileMissing(key) from exc
        return
    source = _local_root() / key
    if not source.is_file():
        raise StoredFileMissing(key)
    shutil.copyfile(source, path)


def upload(key: str, path: Path) -> None:
    """Store the local file ``path`` under ``key`` (replacing what was there)."""
    check_key(key)
    if uses_s3():
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        _s3().upload_file(
            str(path), get_settings().s3_bucket, key, ExtraArgs={"ContentType": content_type}
        )
        return
    target = _local_root() / key
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)


def delete(key: str) -> None:
    """Remove the stored file ``key``; nothing happens when there is none."""
    check_key(key)
    if uses_s3():
        _s3().delete_object(Bucket=get_settings().s3_bucket, Key=key)
        return
    (_local_root() / key).unlink(missing_ok=True)


def sha256(key: str) -> str | None:
    """The SHA-256 (hex) of the stored file ``key``, or None when nothing is stored there."""
    check_key(key)
    digest = hashlib.sha256()
    if uses_s3():
        from botocore.exceptions import ClientError

        try:
            body = _s3().get_object(Bucket=get_settings().s3_bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        for chunk in iter(lambda: body.read(1 << 20), b""):
            digest.update(chunk)
        return digest.hexdigest()
    path = _local_root() / key
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

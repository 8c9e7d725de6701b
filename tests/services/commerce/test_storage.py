"""Product images in an S3-compatible bucket: boto3 against a local S3 server."""

from __future__ import annotations

import socket
import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer
from sqlmodel import select

from mlmcrm import settings
from mlmcrm.models import Product
from mlmcrm.services.commerce import catalog
from tests.services.commerce.helpers import picture


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def s3_bucket(monkeypatch):
    """A local S3 server, a bucket on it, and the app configured to store files there."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    bucket = f"mlmcrm-{uuid.uuid4().hex[:8]}"
    env = {
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "S3_REGION": "us-east-1",
        "S3_ACCESS_KEY_ID": "local-key",
        "S3_SECRET_ACCESS_KEY": "local-secret",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.get_settings.cache_clear()
    client = boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="local-key",
        aws_secret_access_key="local-secret",
    )
    client.create_bucket(Bucket=bucket)
    try:
        yield client, bucket
    finally:
        server.stop()
        monkeypatch.undo()
        settings.get_settings.cache_clear()


def test_images_go_to_the_bucket_and_are_served_by_the_app(
    owner_session, shop, s3_bucket, api_client
):
    client, bucket = s3_bucket
    product = owner_session.exec(select(Product).where(Product.sku == shop.skus["TEA"])).one()
    jpeg = picture("JPEG")
    stored = catalog.set_image(
        session=owner_session,
        actor=shop.admin,
        product_id=product.id,
        filename="tea.jpg",
        data=jpeg,
    )
    owner_session.commit()
    name = stored.image_url.rsplit("/", 1)[1]
    body = client.get_object(Bucket=bucket, Key=f"products/{name}")
    stored_jpeg = body["Body"].read()
    assert stored_jpeg.startswith(b"\xff\xd8\xff") and body["ContentType"] == "image/jpeg"
    assert not (settings.get_settings().data_dir / "uploads" / "products" / name).exists()
    response = api_client.get(stored.image_url)
    assert response.status_code == 200 and response.content == stored_jpeg
    assert response.headers["content-type"] == "image/jpeg"
    assert api_client.get("/api/files/products/1-0000000000000000.png").status_code == 404

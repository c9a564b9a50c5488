"""Helpers for the file tests: real images and PDFs made on the spot, uploads through the real API."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import httpx2
from PIL import Image
from sqlalchemy import func, select

from chat.store import models
from chat.store.db import Database

API = "/api/v1"


def png_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30), **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG", **save)
    return out.getvalue()


def jpeg_with_exif(size: tuple[int, int] = (80, 60)) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc."  # Make
    exif[0x8825] = {0x0002: (48.0, 51.0, 24.0)}  # GPSInfo: a latitude
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def pdf_bytes(pages: int = 2) -> bytes:
    out = io.BytesIO()
    first, *rest = [Image.new("RGB", (200, 280), (255, 255, 255)) for _ in range(pages)]
    first.save(out, "PDF", save_all=True, append_images=rest)
    return out.getvalue()


async def upload(
    client: httpx2.AsyncClient,
    headers: dict[str, str],
    data: bytes,
    name: str = "picture.png",
    content_type: str = "application/octet-stream",
) -> httpx2.Response:
    return await client.post(f"{API}/uploads", files={"file": (name, data, content_type)}, headers=headers)


async def upload_id(client: httpx2.AsyncClient, headers: dict[str, str], data: bytes, name: str = "picture.png") -> int:
    response = await upload(client, headers, data, name)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def file_counts(db: Database) -> dict[str, int]:
    async with db.read() as s:
        return {
            name: int(await s.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in (
                ("uploads", models.Upload),
                ("attachments", models.MessageAttachment),
                ("messages", models.Message),
                ("events", models.Event),
            )
        }


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height`` pixels (a decompression bomb's shape)."""
    data = bytearray(png_bytes(size=(1, 1)))
    header = struct.pack(">II", width, height) + bytes(data[24:29])  # IHDR: size, then depth, colour, …
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    return bytes(data)

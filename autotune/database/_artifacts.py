"""Where artifact bytes live: in the study database itself (chunked; the default, so that one URL or one SQLite
file carries the whole study and its best models) or under an fsspec URL (a shared folder, S3) for very large
models. The metadata -- name, size, SHA-256, location -- is always in the database, and every read is verified.
"""

from __future__ import annotations

import hashlib
import posixpath
from typing import Protocol

from autotune.errors import ConfigError, StorageError


class ArtifactStore(Protocol):
    """Bytes outside the database, addressed by a location string."""

    def put(self, key: str, data: bytes) -> str: ...

    def get(self, location: str) -> bytes: ...

    def delete(self, location: str) -> None: ...


class FsspecArtifactStore:
    """Artifacts as files under an fsspec URL such as ``file:///shared/autotune`` or ``s3://bucket/prefix``."""

    def __init__(self, root: str) -> None:
        try:
            import fsspec
        except ImportError:
            raise ConfigError("artifact_store needs fsspec: pip install fsspec (and s3fs for s3:// URLs).") from None
        self.root = root.rstrip("/")
        try:
            self.fs, self.base = fsspec.core.url_to_fs(self.root)
        except (ImportError, ValueError) as exc:
            raise ConfigError(f"artifact_store {root!r} cannot be used: {exc}") from None

    def put(self, key: str, data: bytes) -> str:
        parts = key.split("/")
        if key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
            raise StorageError(f"the artifact key {key!r} would leave the store {self.root}; refusing to write it.")
        path = posixpath.join(self.base, key)
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        with self.fs.open(path, "wb") as fh:
            fh.write(data)
        return f"{self.root}/{key}"

    def get(self, location: str) -> bytes:
        return read_location(location)

    def delete(self, location: str) -> None:
        delete_location(location)


def read_location(location: str) -> bytes:
    """The bytes at an fsspec URL that autotune wrote an artifact to."""
    import fsspec

    try:
        with fsspec.open(location, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise StorageError(f"the artifact file {location} is gone; it was deleted outside autotune.") from None


def delete_location(location: str) -> None:
    import fsspec

    fs, path = fsspec.core.url_to_fs(location)
    if fs.exists(path):
        fs.rm(path)


def delete_external(locations: list[str]) -> list[str]:
    """Remove artifact files of an external store (best effort); returns those that could not be removed."""
    left = []
    for loc in locations:
        try:
            delete_location(loc)
        except Exception:  # noqa: BLE001 - a file that cannot be removed now is reported, not fatal
            left.append(loc)
    return left


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

"""Uploads streamed to disk in chunks, never held in memory, under a generated name.

The client's file name is kept for display only: it never takes part in a path.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from python_multipart.multipart import MultipartParser, parse_options_header

GZIP_MAGIC = b"\x1f\x8b"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UploadTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"upload exceeds the limit of {limit} bytes")
        self.limit = limit


class UploadInvalid(ValueError):
    """A request body that is not a usable upload (no file part, broken multipart)."""


@dataclass
class StoredUpload:
    path: Path
    stored_name: str
    original_name: str
    size: int
    sha256: str


def display_name(name: str | None) -> str:
    """A harmless display name: the last path component, no control characters, at most 200 chars."""
    name = unicodedata.normalize("NFC", name or "")
    name = PurePosixPath(name.replace("\\", "/")).name
    name = _CONTROL.sub("", name).strip().lstrip(".")
    return name[:200] or "upload.log"


def resolve_stored(directory: Path, stored_name: str) -> Path:
    """The path of a stored upload; refuses anything that would leave ``directory``."""
    base = directory.resolve()
    path = (base / stored_name).resolve()
    if path.parent != base or not re.fullmatch(r"[0-9a-f]{32}(\.gz|\.csv)?", stored_name):
        raise UploadInvalid("invalid stored file name")
    return path


@dataclass
class _Sink:
    """Writes the file part to a temp file under a generated name, counting and hashing as it goes."""

    directory: Path
    limit: int
    size: int = 0
    digest: "hashlib._Hash" = field(default_factory=hashlib.sha256)
    tmp: Path | None = None
    handle: object = None
    gzip: bool | None = None

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tmp = self.directory / f".{uuid.uuid4().hex}.part"
        self.handle = open(self.tmp, "wb")

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self.gzip is None:
            self.gzip = data[:2] == GZIP_MAGIC
        self.size += len(data)
        if self.size > self.limit:
            raise UploadTooLarge(self.limit)
        self.digest.update(data)
        self.handle.write(data)

    def finish(self, original_name: str) -> StoredUpload:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        stored = uuid.uuid4().hex + (".gz" if self.gzip else "")
        path = self.directory / stored
        os.replace(self.tmp, path)
        self.tmp = None
        return StoredUpload(path, stored, original_name, self.size, self.digest.hexdigest())

    def discard(self) -> None:
        if self.handle is not None and not self.handle.closed:
            self.handle.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


async def store_raw(chunks: AsyncIterator[bytes], *, directory: Path, limit: int, name: str | None) -> StoredUpload:
    """Store a raw request body (``application/octet-stream`` or ``text/plain``)."""
    sink = _Sink(directory, limit)
    sink.open()
    try:
        async for chunk in chunks:
            sink.write(chunk)
        if sink.size == 0:
            raise UploadInvalid("the upload is empty")
        return sink.finish(display_name(name))
    finally:
        sink.discard()


async def store_multipart(chunks: AsyncIterator[bytes], *, content_type: str, directory: Path, limit: int,
                          field_name: str = "file") -> StoredUpload:
    """Store the ``field_name`` part of a multipart/form-data body, parsed incrementally."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadInvalid("multipart body without a boundary")
    sink = _Sink(directory, limit)
    state = _MultipartState(sink, field_name)
    parser = MultipartParser(boundary, state.callbacks())
    try:
        async for chunk in chunks:
            parser.write(chunk)
            if state.error is not None:
                raise state.error
        parser.finalize()
        if state.filename is None or sink.tmp is None:
            raise UploadInvalid(f"no file part named {field_name!r} in the form")
        if sink.size == 0:
            raise UploadInvalid("the uploaded file is empty")
        return sink.finish(display_name(state.filename))
    except UploadTooLarge:
        raise
    except (UploadInvalid, ValueError) as exc:
        raise UploadInvalid(str(exc) or "malformed multipart body") from None
    finally:
        sink.discard()


class _MultipartState:
    """Callbacks for python-multipart's push parser: find the file part and stream its bytes to the sink."""

    def __init__(self, sink: _Sink, field_name: str):
        self.sink, self.field_name = sink, field_name
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.in_file = False
        self.filename: str | None = None
        self.error: Exception | None = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._acc("header_field", d[s:e]),
            "on_header_value": lambda d, s, e: self._acc("header_value", d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _acc(self, attr: str, data: bytes) -> None:
        setattr(self, attr, getattr(self, attr) + data)

    def _begin(self) -> None:
        self.headers, self.in_file = {}, False

    def _header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""

    def _headers_done(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if name == self.field_name and b"filename" in params and self.filename is None:
            self.filename = params[b"filename"].decode("utf-8", "replace")
            self.in_file = True
            self.sink.open()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if not self.in_file or self.error is not None:
            return
        try:
            self.sink.write(data[start:end])
        except UploadTooLarge as exc:  # the parser swallows nothing, but stop writing at once
            self.error = exc
            self.in_file = False

    def _end(self) -> None:
        self.in_file = False

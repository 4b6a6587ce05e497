"""Reading an uploaded file from a multipart body, in memory and within a size limit.

Starlette's form parser spools every file part to a temporary file before the route runs, so a
request is read in full — to disk — before anyone has checked who sent it or how large it may
be. The upload route instead declares no body parameter: its dependencies (key and role) run
first, then this module reads the body itself, refusing a declared length over the limit
before reading a byte and cutting a chunked body as soon as it passes the limit. Nothing is
written to disk; at most ``max_bytes`` plus the multipart framing is held in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from fastapi import HTTPException, Request, status
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from serving.api.messages import Detail

#: Room for the multipart framing (boundaries, part headers, small fields) on top of the file.
FRAMING_BYTES: Final = 64 * 1024
#: Parts (fields and files) a request may carry; an upload has one or two.
MAX_PARTS: Final = 8
#: Control characters (C0, DEL, C1).
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class FilePart:
    """The file sent as one multipart field: its name as the client gave it, and its bytes."""

    filename: str | None
    content: bytes


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


class _Collector:
    """Callbacks of python-multipart's streaming parser that keep the named parts' bytes."""

    def __init__(self, wanted: tuple[str, ...], max_bytes: int) -> None:
        self.wanted = wanted
        self.max_bytes = max_bytes
        self.parts = 0
        self.found: dict[str, _Part] = {}
        self._part = _Part()
        self._header_name = b""
        self._header_value = b""

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise _Refused(status.HTTP_400_BAD_REQUEST, f"more than {MAX_PARTS} multipart parts")
        self._part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._part.headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._part.headers.get(b"content-disposition", b""))
        self._part.name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            self._part.filename = printable(options[b"filename"].decode("utf-8", "replace"))
        if self._part.name in self.wanted and self._part.name not in self.found:
            self.found[self._part.name] = self._part

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.found.get(self._part.name) is not self._part:
            return  # other fields are framing: counted against the body limit, not kept
        if len(self._part.data) + (end - start) > self.max_bytes:
            raise _Refused(status.HTTP_413_CONTENT_TOO_LARGE, too_large(self.max_bytes))
        self._part.data += data[start:end]


class _Refused(Exception):
    """Raised inside parser callbacks; turned into an HTTP error outside the parser."""

    def __init__(self, code: int, detail: str | Detail) -> None:
        super().__init__(str(detail))
        self.code = code
        self.detail = detail


def printable(name: str) -> str:
    """A client's file name with its control characters replaced, as undecodable bytes are
    (U+FFFD). The name is only a label, kept in the upload record and the audit log, and
    PostgreSQL cannot store NUL: refusing the file for it would help no one."""
    return _CONTROL.sub("\ufffd", name)


def too_large(max_bytes: int) -> Detail:
    return Detail.of("body.file_too_large", megabytes=max_bytes / 2**20)


def refuse_declared_size(request: Request, max_bytes: int) -> None:
    """413 at once for a body whose declared length is over the limit (nothing is read)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + FRAMING_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, too_large(max_bytes))


async def read_file_part(request: Request, name: str, max_bytes: int) -> FilePart:
    """The bytes of the multipart field ``name``: 413 as soon as more than ``max_bytes`` (plus
    framing) has been sent, 415 for a body that is not multipart, 400 for a malformed one, 422
    without the field. Check the declared length first (:func:`refuse_declared_size`)."""
    found = await read_file_parts(request, (name,), max_bytes)
    if name not in found:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"the multipart body has no field {name!r}"
        )
    return found[name]


async def read_file_parts(
    request: Request, names: tuple[str, ...], max_bytes: int
) -> dict[str, FilePart]:
    """The files of the multipart fields ``names`` that the body has (a request that sends
    several files, like a catalog's), within one limit for the whole body; errors as
    :func:`read_file_part`'s, but a missing field is left to the caller."""
    limit = max_bytes + FRAMING_BYTES
    name = " and ".join(repr(each) for each in names)
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            Detail.of("body.not_multipart", name=name),
        )
    collector = _Collector(names, max_bytes)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise _Refused(status.HTTP_413_CONTENT_TOO_LARGE, too_large(max_bytes))
            parser.write(chunk)
        parser.finalize()
    except _Refused as refused:
        raise HTTPException(refused.code, refused.detail) from None
    except FormParserError as error:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"malformed multipart body: {error}"
        ) from None
    return {key: FilePart(part.filename, bytes(part.data)) for key, part in collector.found.items()}

"""Content-Length framing (DAP, LSP and our agent channel share it).

``FrameParser`` is a pure incremental parser: feed it bytes, take complete
messages out.  It never raises on bad input; malformed frames come out as
``FrameError`` items so that the caller can report them and keep serving.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator, Union

MAX_HEADER_BYTES = 8 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
_SEP = b"\r\n\r\n"


@dataclass(frozen=True)
class FrameError:
    """A frame that could not be turned into a message."""

    reason: str
    raw: bytes = b""

    def describe(self) -> str:
        snippet = self.raw[:80].decode("utf-8", "replace")
        return f"{self.reason}" + (f" (near {snippet!r})" if snippet else "")


Item = Union[dict, FrameError]


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class FrameParser:
    """Incremental Content-Length parser with resynchronisation on garbage."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._need: int | None = None  # body length once a header block was read

    def feed(self, data: bytes) -> Iterator[Item]:
        self._buf += data
        while True:
            if self._need is None:
                end = self._buf.find(_SEP)
                if end < 0:
                    if len(self._buf) > MAX_HEADER_BYTES:
                        raw = bytes(self._buf[:MAX_HEADER_BYTES])
                        # keep a tail that might begin the next real header
                        del self._buf[: len(self._buf) - 3]
                        yield FrameError("header too long or missing blank line", raw)
                    return
                header = bytes(self._buf[:end])
                del self._buf[: end + len(_SEP)]
                length, problem = _content_length(header)
                if problem:
                    yield FrameError(problem, header)
                    continue
                self._need = length
            if len(self._buf) < self._need:  # type: ignore[operator]
                return
            body = bytes(self._buf[: self._need])
            del self._buf[: self._need]
            self._need = None
            yield _decode(body)

    @property
    def pending(self) -> int:
        """Bytes buffered but not yet part of a complete message."""
        return len(self._buf)


def _content_length(header: bytes) -> tuple[int, str]:
    length = None
    for line in header.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        if name.strip().lower() == b"content-length":
            text = value.strip()
            if not text.isdigit():
                return 0, f"invalid Content-Length {text[:40].decode('latin-1')!r}"
            length = int(text)
    if length is None:
        return 0, "header without Content-Length"
    if length > MAX_BODY_BYTES:
        return 0, f"Content-Length {length} exceeds the limit of {MAX_BODY_BYTES} bytes"
    return length, ""


def _decode(body: bytes) -> Item:
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return FrameError(f"invalid JSON: {exc}", body)
    if not isinstance(message, dict):
        return FrameError("message is not a JSON object", body)
    return message

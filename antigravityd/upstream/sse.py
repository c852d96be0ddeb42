"""An incremental Server-Sent Events decoder: bytes in, events out, no I/O (in the spirit of h11).

Cloud Code streams ``data: <json>\\n\\n`` (upstream-protocol.md §3.4), but chunk boundaries fall anywhere: inside
a line, inside a ``\\r\\n`` pair, inside a multi-byte UTF-8 character. So the decoder buffers bytes and decodes
only *complete lines*, never a chunk. It follows the WHATWG event-stream rules where they matter here:

* lines end with LF, CRLF or a lone CR;
* ``field:value`` with at most one space stripped after the colon (``data:{...}`` works too);
* several ``data`` lines of one event are joined with ``\\n``; a blank line dispatches the event;
* a line starting with ``:`` is a comment — upstream keep-alives — reported as :data:`HEARTBEAT`;
* at end of input a pending event is still dispatched (lenient: a stream cut right after a complete
  ``data:`` line keeps that line).

A line (or an event's accumulated data) longer than ``max_line_bytes`` (10 MiB by default — image parts arrive
whole in one line, §3.3) raises :class:`SSELineTooLong` instead of buffering without bound.
``[DONE]`` is not special here; the consumer skips it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["HEARTBEAT", "MAX_LINE_BYTES", "Heartbeat", "SSEDecoder", "SSEError", "SSEEvent", "SSELineTooLong"]

MAX_LINE_BYTES = 10 * 1024 * 1024


class SSEError(Exception):
    """The byte stream is not an event stream we can accept (the upstream's fault)."""


class SSELineTooLong(SSEError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"upstream event-stream line exceeds {limit} bytes")
        self.limit = limit


class SSEEvent(NamedTuple):  # a tuple: twice as cheap to build as a frozen dataclass, on the hot path
    data: str
    event: str = ""  # the ``event:`` field; empty means the default type "message"
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A comment line (``: keep-alive``): proof of life without content."""


HEARTBEAT = Heartbeat()


class SSEDecoder:
    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._partial = bytearray()  # an incomplete line (no line ending seen yet)
        self._pending_cr = False  # the previous chunk ended with CR: a following LF belongs to it
        self._data: list[str] | None = None
        self._data_size = 0
        self._event = ""
        self._id: str | None = None
        self._closed = False

    def feed(self, chunk: bytes) -> list[SSEEvent | Heartbeat]:
        """Consume bytes; return the events (and heartbeats) completed by them, in order."""
        if self._closed:
            raise SSEError("feed() after close()")
        if not chunk:
            return []
        if self._pending_cr:
            self._pending_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._pending_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in chunk:
            # Accumulate in a bytearray: a 10 MiB line arriving in small reads stays linear, not quadratic.
            self._partial += chunk
            if len(self._partial) > self.max_line_bytes:
                raise SSELineTooLong(self.max_line_bytes)
            return []
        if self._partial:
            chunk = bytes(self._partial) + chunk
            self._partial.clear()
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if rest:
            if len(rest) > self.max_line_bytes:
                raise SSELineTooLong(self.max_line_bytes)
            self._partial += rest
        out: list[SSEEvent | Heartbeat] = []
        for line in lines:
            self._line(line, out)
        return out

    def close(self) -> list[SSEEvent | Heartbeat]:
        """End of input: the unterminated last line counts, a pending event is dispatched."""
        if self._closed:
            return []
        self._closed = True
        out: list[SSEEvent | Heartbeat] = []
        if self._partial:
            line = bytes(self._partial)
            self._partial.clear()
            self._line(line, out)
        self._dispatch(out)
        return out

    # ------------------------------------------------------------------------------------------ internals

    def _line(self, line: bytes, out: list[SSEEvent | Heartbeat]) -> None:
        if not line:
            self._dispatch(out)
            return
        if len(line) > self.max_line_bytes:
            raise SSELineTooLong(self.max_line_bytes)
        if line.startswith(b"data:"):  # the hot path: one data line per upstream event
            value = line[6:] if line[5:6] == b" " else line[5:]
            self._data_size += len(value) + 1
            if self._data_size > self.max_line_bytes:
                raise SSELineTooLong(self.max_line_bytes)
            text = value.decode("utf-8", "replace")
            if self._data is None:
                self._data = [text]
            else:
                self._data.append(text)
            return
        if line[:1] == b":":
            out.append(HEARTBEAT)
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":  # "data" with no colon at all: an empty data line
            self._line(b"data:", out)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id" and b"\0" not in value:
            self._id = value.decode("utf-8", "replace")
        # "retry" and unknown fields are ignored, as the spec says.

    def _dispatch(self, out: list[SSEEvent | Heartbeat]) -> None:
        if self._data is not None:
            out.append(SSEEvent("\n".join(self._data), self._event, self._id))
            self._data = None
            self._data_size = 0
        self._event = ""

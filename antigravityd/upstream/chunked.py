"""An incremental decoder for HTTP/1.1 chunked bodies (RFC 9112 §7.1); pure, no I/O.

Why not h11's own: the upstream's answers are chunked event streams, one chunk per event, and h11 spends ~4–5 µs
per chunk in its generic event machinery — a fifth of what relaying an event costs the daemon. The transport still
lets h11 parse the response head, then hands the rest of the body to this decoder (h11transport.py).

Strict where it matters for framing: sizes are 1–16 hex digits (no sign, prefix or underscores, which ``int()``
would accept), each chunk's data must be followed by CRLF, and size and trailer lines are bounded. Chunk extensions
and trailer fields are skipped.
"""

from __future__ import annotations

import re

__all__ = ["ChunkedDecoder", "ChunkedError"]

_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
MAX_LINE = 8192  # a size line with its extensions, or one trailer field

_SIZE_LINE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedError(ValueError):
    """The body is not valid chunked encoding."""


class ChunkedDecoder:
    """``feed`` the bytes received; it returns the body bytes they complete. ``done`` once the last chunk and the
    trailer section are in; ``surplus`` holds whatever arrived after that (for a keep-alive connection, a server
    speaking out of turn)."""

    __slots__ = ("_buffer", "_remaining", "_state")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._state = _SIZE_LINE
        self._remaining = 0  # data bytes left in the current chunk

    @property
    def done(self) -> bool:
        return self._state == _DONE

    @property
    def surplus(self) -> bytes:
        return bytes(self._buffer) if self._state == _DONE else b""

    def feed(self, data: bytes) -> bytes:
        buffer = self._buffer
        if self._state == _DONE:
            buffer += data
            return b""
        if self._state == _DATA and not buffer and len(data) <= self._remaining:
            self._remaining -= len(data)  # the middle of a large chunk: no copying through the buffer
            if not self._remaining:
                self._state = _DATA_END
            return data
        buffer += data
        out: list[bytes] = []
        pos = 0
        end = len(buffer)
        state = self._state
        while pos < end:
            if state == _DATA:
                take = min(self._remaining, end - pos)
                out.append(bytes(buffer[pos:pos + take]))
                pos += take
                self._remaining -= take
                if self._remaining:
                    break
                state = _DATA_END
            elif state == _DATA_END:
                if end - pos < 2:
                    break
                if buffer[pos:pos + 2] != b"\r\n":
                    raise ChunkedError("chunk data not followed by CRLF")
                pos += 2
                state = _SIZE_LINE
            else:  # _SIZE_LINE or _TRAILER: one CRLF-terminated line
                line_end = buffer.find(b"\r\n", pos, pos + MAX_LINE + 2)
                if line_end < 0:
                    if end - pos > MAX_LINE:
                        raise ChunkedError("chunk size or trailer line too long")
                    break
                line = bytes(buffer[pos:line_end])
                pos = line_end + 2
                if state == _TRAILER:
                    if not line:
                        state = _DONE
                        break
                    continue
                size = line.split(b";", 1)[0].strip(b" \t")
                if not _SIZE.fullmatch(size):
                    raise ChunkedError(f"bad chunk size line {line[:40]!r}")
                self._remaining = int(size, 16)
                state = _DATA if self._remaining else _TRAILER
        del buffer[:pos]
        self._state = state
        return b"".join(out)

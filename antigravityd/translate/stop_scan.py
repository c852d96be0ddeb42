"""Stop sequences matched on our side of the stream.

Anthropic accepts any number of stop sequences and reports which one ended the answer (``stop_reason:
"stop_sequence"``, ``stop_sequence: "<it>"``). Upstream takes at most five and reports only ``STOP``. So every
client stop sequence is also watched for in the streamed text: the first five are sent upstream as well (so the
model stops and no tokens are wasted), and any sequence seen here cuts the text and ends the answer.

To never emit the start of a stop sequence that the next fragment completes, the scanner holds back the longest
tail of the text that is a proper prefix of some stop sequence — nothing more, so normal text flows through
unchanged and without delay.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["StopScanner"]


class StopScanner:
    __slots__ = ("held", "matched", "stops")

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.held = ""
        self.matched: str | None = None

    def feed(self, text: str) -> str:
        """The part of ``text`` (plus what was held) that can be emitted now. After a match, returns the text
        before the stop sequence once, and ``matched`` names the sequence."""
        if self.matched is not None:
            return ""
        if not self.stops:
            return text
        buffer = self.held + text
        best: tuple[int, str] | None = None
        for stop in self.stops:
            at = buffer.find(stop)
            if at >= 0 and (best is None or at < best[0]):
                best = (at, stop)
        if best is not None:
            self.held = ""
            self.matched = best[1]
            return buffer[: best[0]]
        keep = self._partial_tail(buffer)
        self.held = buffer[len(buffer) - keep:] if keep else ""
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        """What was held back: the text ended without completing a stop sequence."""
        held, self.held = self.held, ""
        return held

    def _partial_tail(self, buffer: str) -> int:
        longest = 0
        for stop in self.stops:
            for length in range(min(len(stop) - 1, len(buffer)), longest, -1):
                if buffer.endswith(stop[:length]):
                    longest = length
                    break
        return longest

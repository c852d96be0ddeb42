"""The incremental SSE decoder: examples for each rule, and hypothesis for arbitrary chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antigravityd.upstream.sse import HEARTBEAT, SSEDecoder, SSEError, SSEEvent, SSELineTooLong


def decode(*chunks: bytes, max_line_bytes: int = 1 << 20) -> list:
    decoder = SSEDecoder(max_line_bytes)
    out = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out + decoder.close()


def test_upstream_framing():
    stream = b'data: {"a":1}\n\ndata: {"b":2}\n\n'
    assert decode(stream) == [SSEEvent('{"a":1}'), SSEEvent('{"b":2}')]


def test_data_without_space_crlf_and_lone_cr():
    assert decode(b"data:{}\r\n\r\ndata:  two spaces\r\rdata: x\n\n") == [
        SSEEvent("{}"), SSEEvent(" two spaces"), SSEEvent("x")]


def test_crlf_split_between_chunks():
    assert decode(b"data: a\r", b"\n\r", b"\ndata: b\r", b"\r") == [SSEEvent("a"), SSEEvent("b")]


def test_multibyte_character_split_across_chunks():
    payload = "data: Grüße 世界 🎉\n\n".encode()
    for cut in range(1, len(payload)):
        assert decode(payload[:cut], payload[cut:]) == [SSEEvent("Grüße 世界 🎉")], cut


def test_comments_are_heartbeats_and_fields():
    events = decode(b": keep-alive\n\nevent: ping\nid: 7\ndata: 1\ndata: 2\nretry: 10\nfoo: bar\n\n:x\n")
    assert events == [HEARTBEAT, SSEEvent("1\n2", "ping", "7"), HEARTBEAT]


def test_done_is_just_data_and_pending_event_flushes_at_eof():
    assert decode(b"data: [DONE]\n\ndata: {\"last\":true}\n") == [SSEEvent("[DONE]"), SSEEvent('{"last":true}')]
    assert decode(b"data: {\"partial") == [SSEEvent('{"partial')]
    assert decode(b"\n\n\n") == []


def test_line_cap():
    decoder = SSEDecoder(max_line_bytes=16)
    assert decoder.feed(b"data: 0123456789") == []  # exactly 16 bytes buffered: fine
    with pytest.raises(SSELineTooLong, match="exceeds 16 bytes"):
        decoder.feed(b"X")
    with pytest.raises(SSELineTooLong):
        SSEDecoder(max_line_bytes=16).feed(b"data: 01234567890123\n\n")  # a complete line over the cap
    decoder = SSEDecoder(max_line_bytes=16)
    decoder.feed(b"data: 0123456\ndata: 012345\n")
    with pytest.raises(SSELineTooLong):  # one event's data over the cap, even in short lines
        decoder.feed(b"data: 01234\n")


def test_ten_mebibyte_default():
    decoder = SSEDecoder()
    big = b"x" * (10 * 1024 * 1024 - 6)
    assert decoder.feed(b"data: " + big + b"\n\n") == [SSEEvent(big.decode())]
    with pytest.raises(SSELineTooLong):
        SSEDecoder().feed(b"data: " + big + b"xx")


def test_feed_after_close():
    decoder = SSEDecoder()
    decoder.close()
    with pytest.raises(SSEError):
        decoder.feed(b"data: x\n\n")


# ---------------------------------------------------------------------------------------------------- properties

texts = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=40)
events_st = st.lists(st.tuples(st.lists(texts, min_size=1, max_size=3), st.booleans()), max_size=8)
endings = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def encoded_streams(draw):
    """(bytes, expected events) for a random event list, with random line endings and framing variants."""
    events = draw(events_st)
    out = bytearray()
    expected = []

    def end_line() -> None:
        ending = draw(endings)
        if out.endswith(b"\r") and ending == b"\n":
            ending = b"\r"  # CR then LF would be one CRLF line ending, not two
        out.extend(ending)

    for lines, heartbeat in events:
        if heartbeat:
            out.extend(b": ping")
            end_line()
            expected.append(HEARTBEAT)
        for line in lines:
            spaced = draw(st.booleans()) or line.startswith(" ")
            out.extend((b"data: " if spaced else b"data:") + line.encode())
            end_line()
        end_line()
        expected.append(SSEEvent("\n".join(lines)))
    return bytes(out), expected


@settings(max_examples=300, deadline=None)
@given(encoded_streams(), st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_any_chunking_yields_the_same_events(stream_and_expected, cuts):
    stream, expected = stream_and_expected
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert decode(*chunks) == expected
    assert decode(stream) == expected


@settings(deadline=None)  # a loaded shared machine must not fail a property
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=6))
def test_arbitrary_bytes_never_crash_and_chunking_is_irrelevant(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert decode(*chunks) == decode(data)

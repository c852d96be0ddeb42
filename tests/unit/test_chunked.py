"""The chunked-body decoder: any body, cut into any chunks and received in any pieces, decodes to itself; framing
errors are refused (h11's encoder writes the reference encodings)."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.upstream.chunked import MAX_LINE, ChunkedDecoder, ChunkedError


def encode(chunks: list[bytes], trailer: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n" + trailer + b"\r\n"


def decode_in_pieces(wire: bytes, cuts: list[int]) -> tuple[bytes, ChunkedDecoder]:
    decoder = ChunkedDecoder()
    out = b""
    start = 0
    for cut in [*sorted(set(cuts)), len(wire)]:
        out += decoder.feed(wire[start:cut])
        start = cut
    return out, decoder


@given(st.lists(st.binary(max_size=300), max_size=12), st.lists(st.integers(0, 4000), max_size=20),
       st.sampled_from([b"", b"x-checksum: 1\r\n", b"a: b\r\nc: d\r\n"]))
def test_any_body_in_any_pieces_decodes_to_itself(chunks: list[bytes], cuts: list[int], trailer: bytes) -> None:
    wire = encode(chunks, trailer)
    out, decoder = decode_in_pieces(wire, [c for c in cuts if c <= len(wire)])
    assert out == b"".join(chunks)
    assert decoder.done and decoder.surplus == b""


@given(st.lists(st.binary(min_size=1, max_size=200), max_size=8), st.binary(max_size=50))
def test_h11s_encoding_decodes_and_bytes_after_the_end_are_surplus(chunks: list[bytes], extra: bytes) -> None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    conn.next_event()
    conn.next_event()
    wire = conn.send(h11.Response(status_code=200, headers=[("transfer-encoding", "chunked")]))
    head_end = len(wire)
    for chunk in chunks:
        wire += conn.send(h11.Data(data=chunk))
    wire += conn.send(h11.EndOfMessage())
    decoder = ChunkedDecoder()
    assert decoder.feed(wire[head_end:] + extra) == b"".join(chunks)
    assert decoder.done and decoder.surplus == extra
    assert decoder.feed(b"more") == b"" and decoder.surplus == extra + b"more"


def test_extensions_and_upper_case_hex_are_accepted() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"A;name=value\r\n0123456789\r\n0 ; last\r\n\r\n") == b"0123456789"
    assert decoder.done


def test_not_done_until_the_trailer_section_ends() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"2\r\nok\r\n0\r\n") == b"ok"
    assert not decoder.done
    decoder.feed(b"\r")
    assert not decoder.done
    decoder.feed(b"\n")
    assert decoder.done


def test_a_large_chunk_arriving_in_pieces_passes_through() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"10000\r\n") == b""
    pieces = [decoder.feed(b"x" * 1000) for _ in range(65)]
    assert b"".join(pieces) == b"x" * 65000
    assert decoder.feed(b"y" * 536 + b"\r\n0\r\n\r\n") == b"y" * 536
    assert decoder.done


@pytest.mark.parametrize("wire", [
    b"zz\r\nok\r\n",  # not hex
    b"0x2\r\nok\r\n",  # int() would take these
    b"+2\r\nok\r\n",
    b"1_0\r\n",
    b"\r\n",  # empty size
    b"12345678901234567\r\n",  # more than 16 digits
    b"2\r\nokX\r\n",  # data longer than its size
    b"2\r\nok\n0\r\n\r\n",  # bare LF after data
])
def test_framing_errors_are_refused(wire: bytes) -> None:
    with pytest.raises(ChunkedError):
        ChunkedDecoder().feed(wire)


def test_size_and_trailer_lines_are_bounded() -> None:
    with pytest.raises(ChunkedError, match="too long"):
        ChunkedDecoder().feed(b"1" + b";" * (MAX_LINE + 10))
    decoder = ChunkedDecoder()
    decoder.feed(b"0\r\n")
    with pytest.raises(ChunkedError, match="too long"):
        decoder.feed(b"x" * (MAX_LINE + 10))

"""CPU cost of the translators, as ratios against JSON parsing of the same data in the same run.

    PYTHONPATH=. python bench/translate_bench.py

Per request: translating captured client bodies (gemini-cli 47 KB / 8 tools, the OpenAI SDK's "hi") into the
upstream envelope, cold and with a warm SchemaCache (agents resend the same tools every
turn). Per stream event: each dialect's stream translator fed a 100-event upstream answer. Baselines: orjson
parsing of the request body / of each upstream event — the work the daemon must do anyway.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from antigravityd.api.anthropic_plan import encode_events
from antigravityd.translate.anthropic_stream import AnthropicStreamTranslator
from antigravityd.translate.context import TranslateContext
from antigravityd.translate.envelope import build_envelope
from antigravityd.translate.gemini_native import gemini_request_to_upstream
from antigravityd.translate.gemini_stream import GeminiStreamTranslator
from antigravityd.translate.models import resolve_model
from antigravityd.translate.openai_chat import chat_request_to_upstream
from antigravityd.translate.openai_chat_stream import ChatStreamTranslator
from antigravityd.translate.schema import SchemaCache
from antigravityd.translate.session import gemini_session_id, openai_session_id
from tests.translate.captures import bodies
from tests.translate.upstream_script import call, events, text, thought


def cpu_us(fn: Callable[[], object], rounds: int = 7, number: int = 0) -> float:
    """Median CPU microseconds per call over ``rounds`` timed batches (batch size auto-scaled to ~50 ms)."""
    fn()
    if not number:
        start = time.process_time()
        number = 1
        while time.process_time() - start < 0.05:
            fn()
            number += 1
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(number):
            fn()
        samples.append((time.process_time() - start) / number * 1e6)
    return statistics.median(samples)


def main() -> None:
    cache = SchemaCache()
    rows: list[tuple[str, float, float]] = []

    def request_case(name, raw, translate, route, session):
        body = orjson.loads(raw)

        def run(schemas=None):
            ctx = TranslateContext(request_id="r", session_id=session(body), schemas=schemas)
            build_envelope(translate(body, route, ctx), route, ctx)

        parse = cpu_us(lambda: orjson.loads(raw))
        rows.append((f"{name}: request, cold schemas", cpu_us(run), parse))
        rows.append((f"{name}: request, warm SchemaCache", cpu_us(lambda: run(cache)), parse))

    cli = bodies("gemini-cli.json", ":streamGenerateContent")[0]
    request_case("gemini-cli (47 KB)", orjson.dumps(cli), gemini_request_to_upstream,
                 resolve_model("gemini-3.8-flash", {}), gemini_session_id)
    sdk = bodies("openai-python-sdk.json", "/v1/chat/completions")[0]
    request_case("openai sdk 'hi'", orjson.dumps(sdk), chat_request_to_upstream,
                 resolve_model("gemini-3-flash", {}), openai_session_id)

    script = [thought("Let me think about this. " * 3)] + [text("some words of the answer ") for _ in range(97)]
    script.append(call("read_file", {"path": "/tmp/a.txt"}))
    upstream = events(script, list(range(1, 200)))
    raw_events = [orjson.dumps(e) for e in upstream]
    n = len(upstream)
    parse = cpu_us(lambda: [orjson.loads(r) for r in raw_events]) / n
    streams = {
        "openai chat": lambda: ChatStreamTranslator("m", "c", 0, True),
        "gemini": lambda: GeminiStreamTranslator("m"),
        "anthropic": lambda: AnthropicStreamTranslator(model="m", family="gemini", session_id="s",
                                                       message_id="msg_01x"),
    }
    for name, make in streams.items():
        def run(make=make):
            t = make()
            for e in upstream:
                t.feed(e)  # the events only: SSE encoding is measured separately below
            t.finish(truncated=False)
        rows.append((f"{name}: stream, per upstream event ({n} events)", cpu_us(run) / n, parse))

    translator = AnthropicStreamTranslator(model="m", family="gemini", session_id="s", message_id="msg_01x")
    anthropic_events = [translator.feed(e) for e in upstream]
    rows.append((f"anthropic: SSE encoding, per upstream event ({n} events)",
                 cpu_us(lambda: [encode_events(items) for items in anthropic_events]) / n, parse))

    print(f"{'case':58s} {'µs CPU':>9s} {'baseline µs':>12s} {'ratio':>7s}")
    for name, value, baseline in rows:
        print(f"{name:58s} {value:9.1f} {baseline:12.1f} {value / baseline:7.1f}")
    print(f"SchemaCache: {cache.hits} hits, {cache.misses} misses")


if __name__ == "__main__":
    main()

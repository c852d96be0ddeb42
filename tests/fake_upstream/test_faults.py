"""Fault injection, quota counters and the counters tests wait on (§3.8, §4.2–§4.7, §12 items 18–19)."""

from __future__ import annotations

import json

import httpx
import pytest
import trio

from tests.fake_upstream import FaultKind
from tests.fake_upstream.generation import UTF8_PREFIX
from tests.fake_upstream.testkit import envelope, headers, parts, rpc, sse_events, stream, text_of

MODEL = "gemini-3-flash"


async def generate(http, fake, account, body=None, method="streamGenerateContent"):
    query = "?alt=sse" if method == "streamGenerateContent" else ""
    return await rpc(http, fake, account, method, body or envelope(MODEL, "hi"), query=query)


def details(r) -> list[dict]:
    return r.json()["error"].get("details", [])


async def test_rate_limit_body(fake, http, alice):
    fake.inject("rate_limit", account=alice.email, delay=1.354703728)
    r = await generate(http, fake, alice)
    assert r.status_code == 429 and r.headers["content-type"] == "text/event-stream"
    err = r.json()["error"]
    assert err["status"] == "RESOURCE_EXHAUSTED"
    assert err["message"] == "You have exhausted your capacity on this model. Your quota will reset after 1s."
    info, retry = err["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" and info["reason"] == "RATE_LIMIT_EXCEEDED"
    assert info["metadata"]["quotaResetDelay"] == "1.354703728s" and info["metadata"]["model"] == MODEL
    assert info["metadata"]["uiMessage"] == "true"
    assert info["metadata"]["quotaResetTimeStamp"].endswith("Z")
    assert retry == {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.354703728s"}
    assert (await generate(http, fake, alice)).status_code == 200  # times=1


async def test_quota_exhausted_body_and_message_template(fake, http, alice):
    fake.inject("quota_exhausted", reset_in=581981.300432511)
    err = (await generate(http, fake, alice)).json()["error"]
    assert err["message"].endswith("reset after 161h39m41s.")
    assert err["details"][0]["metadata"]["quotaResetDelay"] == "161h39m41.300432511s"
    assert err["details"][1]["retryDelay"] == "581981.300432511s"
    fake.inject("quota_exhausted", reset_in=33740, message="Individual quota reached. Please upgrade your "
                                                           "subscription to increase your limits. Resets in {reset}.")
    err = (await generate(http, fake, alice)).json()["error"]
    assert err["message"].endswith("Resets in 9h22m20s.")


async def test_short_rate_limit_delay_in_milliseconds(fake, http, alice):
    fake.inject("rate_limit", delay=0.634846608)
    info, retry = details(await generate(http, fake, alice))
    assert info["metadata"]["quotaResetDelay"] == "634.846608ms" and retry["retryDelay"] == "0.634846608s"


@pytest.mark.parametrize(("kind", "status", "reason", "message"), [
    ("resource_exhausted", 429, None, "Resource has been exhausted (e.g. check quota)."),
    ("capacity", 503, "MODEL_CAPACITY_EXHAUSTED", f"No capacity available for model {MODEL} on the server"),
    ("server_error", 500, None, "Internal error encountered."),
    ("unavailable", 503, None, "The service is currently unavailable."),
    ("unauthenticated", 401, "ACCESS_TOKEN_EXPIRED", None),
    ("verification_required", 403, "VALIDATION_REQUIRED", "Verify your account to continue."),
    ("tos_violation", 403, "TOS_VIOLATION", None),
    ("service_disabled", 403, "SERVICE_DISABLED", None),
    ("not_found", 404, None, "Requested entity was not found."),
])
async def test_error_faults(fake, http, alice, kind, status, reason, message):
    fake.inject(kind)
    r = await generate(http, fake, alice)
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] == status
    if reason:
        assert err["details"][0]["reason"] == reason
    else:
        assert "details" not in err
    if message:
        assert err["message"] == message


async def test_capacity_retry_info_and_403_urls(fake, http, alice):
    fake.inject("capacity", retry_delay=40)
    assert details(await generate(http, fake, alice))[1] == {
        "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "40s"}
    fake.inject("verification_required", url="https://accounts.google.com/signin/continue?x=1")
    info, help_ = details(await generate(http, fake, alice))
    assert info["metadata"]["validation_url"] == "https://accounts.google.com/signin/continue?x=1"
    assert help_["links"][0]["url"] == info["metadata"]["validation_url"]
    fake.inject("tos_violation", appeal_url="https://appeal.example/")
    r = await generate(http, fake, alice)
    assert "violation of Terms of Service" in r.json()["error"]["message"]
    assert details(r)[0]["metadata"]["appeal_url"] == "https://appeal.example/"


async def test_retry_after_header_array_form_and_custom(fake, http, alice):
    fake.inject("rate_limit", retry_after=7, array=True)
    r = await generate(http, fake, alice)
    assert r.headers["retry-after"] == "7"
    body = r.json()
    assert isinstance(body, list) and body[0]["error"]["code"] == 429
    fake.inject("custom", status=502, body="<html>bad gateway</html>", headers=[["x-test", "1"]])
    r = await generate(http, fake, alice)
    assert r.status_code == 502 and r.text == "<html>bad gateway</html>" and r.headers["x-test"] == "1"


async def test_fault_matching_and_counting(fake, http, alice):
    bob = fake.add_account("bob@example.com")
    fake.inject("server_error", account=bob.access_token, model=MODEL, times=2)  # a token names its account
    assert (await generate(http, fake, alice)).status_code == 200
    assert (await generate(http, fake, bob, envelope("gemini-2.5-flash", "hi"))).status_code == 200
    assert [(await generate(http, fake, bob)).status_code for _ in range(3)] == [500, 500, 200]
    fault = fake.inject("capacity", times=None)
    assert [(await generate(http, fake, alice)).status_code for _ in range(3)] == [503] * 3
    assert fault.hits == 3
    fake.clear_faults()
    assert (await generate(http, fake, alice)).status_code == 200
    # generation rpcs only unless asked for
    fake.inject("server_error", times=None)
    assert (await rpc(http, fake, alice, "loadCodeAssist", {})).status_code == 200
    fake.clear_faults()
    fake.inject("server_error", rpcs="loadCodeAssist")
    assert (await rpc(http, fake, alice, "loadCodeAssist", {})).status_code == 500
    assert fake.stats.faults_fired["server_error"] == 3


# ---------------------------------------------------------------------------------------------------- stream shapes


async def test_cut_stream_closes_mid_body(fake, http, alice):
    fake.inject("cut_stream", after_events=2)
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        async with http.stream("POST", f"{fake.base_url}:streamGenerateContent?alt=sse", headers=headers(alice),
                               json=envelope(MODEL, "[[chunks:5]] go")) as r:
            assert r.status_code == 200
            async for chunk in r.aiter_text():
                received.append(chunk)
    events = sse_events("".join(received))
    assert len(events) == 2
    assert not any("finishReason" in c for e in events for c in e["response"]["candidates"])
    assert fake.stats.disconnects == 0  # the fake hung up, not the client


async def test_cut_stream_clean_eof_and_empty_and_thoughts_only(fake, http, alice):
    fake.inject("cut_stream", after_events=3, mode="eof")
    events = await stream(http, fake, alice, envelope(MODEL, "[[chunks:3]] go"))
    assert len(events) == 3 and "finishReason" not in events[-1]["response"]["candidates"][0]
    fake.inject("empty_stream")
    assert await stream(http, fake, alice, envelope(MODEL, "hi")) == []
    fake.inject("thoughts_only", count=4)
    events = await stream(http, fake, alice, envelope(MODEL, "hi"))
    assert len(events) == 4 and all(p.get("thought") for p in parts(events))
    assert not any("finishReason" in c for e in events for c in e["response"]["candidates"])


async def test_cut_generate_content(fake, http, alice):
    fake.inject("cut_stream", rpcs="generateContent")
    with pytest.raises(httpx.RemoteProtocolError):
        await generate(http, fake, alice, method="generateContent")


async def test_split_utf8_across_writes(fake, http, alice):
    fake.inject("split_utf8")
    chunks = []
    async with http.stream("POST", f"{fake.base_url}:streamGenerateContent?alt=sse", headers=headers(alice),
                           json=envelope("gemini-2.5-flash", "hi")) as r:
        async for chunk in r.aiter_raw():
            chunks.append(chunk)
    split_inside = 0
    for chunk in chunks:
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            split_inside += 1
    assert split_inside >= 1
    assert text_of(sse_events(b"".join(chunks).decode())) == UTF8_PREFIX + "Echo: hi"


async def test_stall_and_slow_first_byte(fake, http, alice):
    fake.inject("stall", after_events=1, delay_ms=60)
    start = trio.current_time()
    async with http.stream("POST", f"{fake.base_url}:streamGenerateContent?alt=sse", headers=headers(alice),
                           json=envelope(MODEL, "[[chunks:3]] go")) as r:
        times = []
        async for _ in r.aiter_lines():
            times.append(trio.current_time())
    assert times[-1] - start >= 0.06
    fake.inject("slow_first_byte", delay_ms=60)
    start = trio.current_time()
    r = await generate(http, fake, alice)
    assert r.status_code == 200 and trio.current_time() - start >= 0.06


async def test_first_byte_and_delay_directives(fake, http, alice):
    start = trio.current_time()
    events = await stream(http, fake, alice, envelope(MODEL, "[[first_byte_ms:30]][[delay_ms:10]][[chunks:4]] x"))
    assert len(events) >= 4 and trio.current_time() - start >= 0.06


# ---------------------------------------------------------------------------------------------------- counters


async def test_disconnect_is_observed(fake, http, alice):
    with trio.fail_after(10):
        async with http.stream("POST", f"{fake.base_url}:streamGenerateContent?alt=sse", headers=headers(alice),
                               json=envelope(MODEL, "[[chunks:500]][[delay_ms:20]] go")) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    break
        # leaving the block closed the connection mid-stream
        await fake.wait_for_disconnects(1)
    assert fake.stats.disconnect_log[0].rpc == "streamGenerateContent"
    assert fake.stats.disconnect_log[0].email == alice.email
    assert fake.stats.in_flight[alice.email] == 0


async def test_peak_concurrency_and_request_counts(fake, http, alice):
    gate = trio.Event()

    async def one() -> None:
        async with http.stream("POST", f"{fake.base_url}:streamGenerateContent?alt=sse", headers=headers(alice),
                               json=envelope(MODEL, "[[first_byte_ms:100]] go")) as r:
            await gate.wait()
            await r.aread()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(one)
            await fake.stats.wait_until(lambda s: s.in_flight[alice.email] == 3)
            gate.set()
    assert fake.stats.peak_concurrency[alice.email] == 3
    assert fake.stats.count(email=alice.email, rpc="streamGenerateContent") == 3
    assert fake.stats.by_account(alice.email) == {"streamGenerateContent": 3}


async def test_quota_counter_feeds_429_and_available_models(fake, http):
    acct = fake.add_account("q@example.com", quota_limit=2)
    assert [(await generate(http, fake, acct)).status_code for _ in range(3)] == [200, 200, 429]
    r = await generate(http, fake, acct)
    info = details(r)[0]
    assert info["reason"] == "QUOTA_EXHAUSTED" and info["metadata"]["model"] == MODEL
    models = (await rpc(http, fake, acct, "fetchAvailableModels", {"project": acct.project})).json()["models"]
    assert "remainingFraction" not in models[MODEL]["quotaInfo"]
    assert models[MODEL]["quotaInfo"]["resetTime"] == info["metadata"]["quotaResetTimeStamp"]
    assert models["gemini-2.5-flash"]["quotaInfo"]["remainingFraction"] == 1.0
    fake.set_quota(acct.email, MODEL, remaining_fraction=0.5, limit=10)
    models = (await rpc(http, fake, acct, "fetchAvailableModels", {})).json()["models"]
    assert models[MODEL]["quotaInfo"]["remainingFraction"] == 0.5
    assert (await generate(http, fake, acct)).status_code == 200


async def test_recorded_requests_show_what_was_sent(fake, http, alice):
    await generate(http, fake, alice, envelope(MODEL, "hello"))
    seen = fake.last_request("streamGenerateContent")
    assert seen.email == alice.email and seen.model == MODEL
    assert seen.body["request"]["contents"][0]["parts"][0]["text"] == "hello"
    assert seen.headers["authorization"] == "<redacted>"
    assert json.dumps(fake.stats.snapshot())


def test_fault_kinds_are_documented():
    assert {k.value for k in FaultKind} >= {"rate_limit", "quota_exhausted", "capacity", "cut_stream", "stall"}


async def test_heartbeats_and_dropped_connections(fake, http, alice):
    fake.inject("heartbeats", count=2)
    r = await generate(http, fake, alice)
    assert r.text.startswith(": keep-alive\n\n: keep-alive\n\ndata: ")
    fake.inject("heartbeats", count=4, only=True)
    r = await generate(http, fake, alice)
    assert r.text == ": keep-alive\n\n" * 4
    fake.inject("drop_connection")
    with pytest.raises(httpx.RemoteProtocolError):
        await generate(http, fake, alice)
    fake.inject("drop_connection", rpcs="token")
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post(fake.token_url, data={"grant_type": "refresh_token", "refresh_token": alice.refresh_token})
    assert (await generate(http, fake, alice)).status_code == 200

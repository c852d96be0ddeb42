"""``python -m tests.fake_upstream`` in its own process, driven through ``/_fake/…``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import trio

from tests.fake_upstream.testkit import UA, envelope

ROOT = Path(__file__).resolve().parents[2]


async def read_line(stream: trio.abc.ReceiveStream) -> bytes:
    buf = b""
    while b"\n" not in buf:
        chunk = await stream.receive_some(65536)
        assert chunk, "process exited before printing its banner"
        buf += chunk
    return buf.split(b"\n", 1)[0]


async def test_standalone_server_and_control_api(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"accounts": [{"email": "seeded@example.com", "refresh_token": "1//seeded",
                                              "project": None}],
                                "strict": {"user_agent": False}}))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with trio.fail_after(30):
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "tests.fake_upstream", "--port", "0", "--accounts", "2", "--seed-file", str(seed)],
            stdout=subprocess.PIPE, env=env, cwd=str(ROOT))
        try:
            banner = json.loads(await read_line(proc.stdout))
            emails = [a["email"] for a in banner["accounts"]]
            assert emails == ["seeded@example.com", "fake-1@fake.test", "fake-2@fake.test"]
            assert banner["accounts"][0]["refresh_token"] == "1//seeded"
            assert banner["accounts"][0]["project"] is None
            assert banner["base_url"].endswith("/v1internal")
            root = banner["root_url"]
            async with httpx.AsyncClient(timeout=10, verify=False) as http:
                token = (await http.post(banner["token_url"], data={
                    "grant_type": "refresh_token", "refresh_token": "1//seeded", "client_id": banner["client_id"],
                    "client_secret": banner["client_secret"]})).json()["access_token"]
                auth = {"authorization": f"Bearer {token}"}  # no UA: the seed file relaxed that rule
                r = await http.post(f"{root}/_fake/faults", json={"kind": "capacity", "account": "seeded@example.com",
                                                                  "times": 1, "params": {"retry_delay": 5}})
                assert r.status_code == 200 and r.json()["kind"] == "capacity"
                url = f"{banner['base_url']}:generateContent"
                assert (await http.post(url, json=envelope("gemini-3-flash", "hi"), headers=auth)).status_code == 503
                assert (await http.post(url, json=envelope("gemini-3-flash", "hi"), headers=auth)).status_code == 200
                stats = (await http.get(f"{root}/_fake/stats")).json()
                assert stats["by_rpc"]["generateContent"] == 2 and stats["faults_fired"] == {"capacity": 1}
                r = await http.post(f"{root}/_fake/strict", json={"user_agent": True, "nope": 1})
                assert r.status_code == 400
                r = await http.post(f"{root}/_fake/strict", json={"user_agent": True})
                assert r.json()["user_agent"] is True
                assert (await http.post(url, json=envelope("gemini-3-flash", "hi"), headers=auth)).status_code == 403
                r = await http.post(f"{root}/_fake/accounts", json={"email": "late@example.com", "tier": "free-tier"})
                late = r.json()
                r = await http.post(url, json=envelope("gemini-3-flash", "hi"),
                                    headers={"authorization": f"Bearer {late['access_token']}", "user-agent": UA})
                assert r.status_code == 200
                await http.post(f"{root}/_fake/revoke", json={"refresh_token": "1//seeded"})
                r = await http.post(banner["token_url"], data={
                    "grant_type": "refresh_token", "refresh_token": "1//seeded", "client_id": banner["client_id"],
                    "client_secret": banner["client_secret"]})
                assert r.json()["error"] == "invalid_grant"
                recorded = (await http.get(f"{root}/_fake/requests?rpc=generateContent&limit=1")).json()
                assert len(recorded) == 1 and recorded[0]["email"] == "late@example.com"
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == 0

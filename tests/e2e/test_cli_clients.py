"""End to end with the real agent CLIs from npm: Claude Code (``claude -p``) and Codex (``codex exec``) against the
daemon and the fake upstream, each doing a plain answer and a tool round trip the CLI executes locally.

The CLIs are installed once into ``~/.cache/antigravityd-e2e/npm`` (hundreds of MB; reused by later runs). When
npm or the registry is not reachable the tests are skipped, saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway import Gateway, start_gateway

pytestmark = pytest.mark.slow

PREFIX = Path.home() / ".cache" / "antigravityd-e2e" / "npm"
PACKAGES = {"claude": "@anthropic-ai/claude-code", "codex": "@openai/codex"}


def _cli(name: str) -> Path:
    binary = PREFIX / "bin" / name
    if binary.exists():
        return binary
    if shutil.which("npm") is None:
        pytest.skip(f"npm is not installed: cannot install {PACKAGES[name]}")
    try:
        out = subprocess.run(["npm", "install", "--prefix", str(PREFIX), "-g", PACKAGES[name]], capture_output=True,
                             text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install {PACKAGES[name]} did not finish in 15 minutes")
    if out.returncode != 0 or not binary.exists():
        pytest.skip(f"npm install {PACKAGES[name]} failed (no registry access?): {out.stderr.strip()[-300:]}")
    return binary


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("cli"), settings={"security.auth_mode": "strict"})
    try:
        yield gateway
    finally:
        gateway.close()


# ------------------------------------------------------------------------------------------------ Claude Code


def _claude(gw: Gateway, tmp_path: Path, prompt: str) -> subprocess.CompletedProcess:
    claude = _cli("claude")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "ANTHROPIC_BASE_URL": gw.url,
           "ANTHROPIC_API_KEY": gw.api_key, "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1",
           "DISABLE_ERROR_REPORTING": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    return subprocess.run([str(claude), "-p", prompt], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL, check=False)


def test_claude_code_prints_the_answer(gw: Gateway, tmp_path: Path) -> None:
    out = _claude(gw, tmp_path, "[[say:CLAUDE-OK through antigravityd]]")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "CLAUDE-OK through antigravityd"


def test_claude_code_tool_round_trip_with_thinking(gw: Gateway, tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("secret-content-42\n")
    out = _claude(gw, tmp_path, f'[[call:Read {{"file_path": "{tmp_path}/hello.txt"}}]] read the file')
    assert out.returncode == 0, out.stderr
    assert "Tool results: Read ->" in out.stdout and "secret-content-42" in out.stdout
    # Claude Code's default model thinks (adaptive): its second request replayed the signed thinking block.
    second = [r for r in gw.fake.requests("streamGenerateContent")][-1]["body"]["request"]
    assert second["contents"][1]["parts"][0].get("thought") is True


# ------------------------------------------------------------------------------------------------ Codex


@pytest.fixture
def codex_home(gw: Gateway) -> Iterator[Path]:
    # Codex refuses helper binaries under a /tmp CODEX_HOME and then writes into the real ~/.codex (stack-notes §8).
    home = Path.home() / ".cache" / "antigravityd-e2e" / "codex-homes" / uuid.uuid4().hex
    home.mkdir(parents=True)
    (home / "config.toml").write_text(
        'model = "gpt-5-codex"\nmodel_provider = "gateway"\n\n[model_providers.gateway]\nname = "antigravityd"\n'
        f'base_url = "{gw.url}/v1"\nenv_key = "OPENAI_API_KEY"\nwire_api = "responses"\n')
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _codex(gw: Gateway, home: Path, workdir: Path, prompt: str) -> subprocess.CompletedProcess:
    codex = _cli("codex")
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CODEX_HOME": str(home), "OPENAI_API_KEY": gw.api_key}
    return subprocess.run([str(codex), "exec", "--skip-git-repo-check", prompt], env=env, cwd=workdir,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)


def test_codex_answers(gw: Gateway, codex_home: Path, tmp_path: Path) -> None:
    out = _codex(gw, codex_home, tmp_path, "[[say:CODEX-OK through antigravityd]]")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "CODEX-OK through antigravityd"


def test_codex_runs_a_function_call(gw: Gateway, codex_home: Path, tmp_path: Path) -> None:
    out = _codex(gw, codex_home, tmp_path, '[[call:exec_command {"cmd": "echo gateway-$((6*7))"}]] run it')
    assert out.returncode == 0, out.stderr
    assert "Tool results: exec_command ->" in out.stdout and "gateway-42" in out.stdout  # computed by the shell
    requests = [r for r in gw.fake.requests("streamGenerateContent")]
    replayed = requests[-1]["body"]["request"]["contents"]
    call = next(p for c in replayed for p in c["parts"] if "functionCall" in p)
    assert call["thoughtSignature"] != "skip_thought_signature_validator"  # Gemini 3 signature from the cache

"""The real warmup: one tiny generation per (account, model) at 100 % per cooldown, counted at the fake."""

from __future__ import annotations

from collections import Counter

import pytest
import trio

from antigravityd.accounts.errors import LifecycleError
from antigravityd.accounts.warmup import FAILED_RETRY, HISTORY_PREFIX, warmup_envelope
from tests.lifecycle.conftest import open_world

FLASH = "gemini-3-flash"
SONNET = "claude-sonnet-4-6"
MODELS = [FLASH, SONNET]


def warmups(fake) -> Counter:
    """(email, model) → generation requests the fake saw."""
    return Counter((r.email, r.model) for r in fake.requests if r.rpc in ("generateContent", "streamGenerateContent"))


@pytest.fixture
async def w(fake, repo, data_dir, clock):
    async with open_world(fake, repo, data_dir, clock, **{"warmup.enabled": True, "warmup.models": MODELS}) as world:
        yield world


async def test_one_request_per_eligible_pair_per_cooldown(w, fake, clock, repo):
    a = await w.add("a@example.com")
    b = await w.add("b@example.com")
    fake.set_quota("b@example.com", FLASH, remaining_fraction=0.5)  # B's flash window already runs
    await w.quota.refresh_account(b)

    outcomes = await w.warmer.warm_due()
    assert sorted((o["account_id"], o["model"]) for o in outcomes) == sorted([(a, FLASH), (a, SONNET), (b, SONNET)])
    assert all(o["ok"] for o in outcomes)
    assert warmups(fake) == Counter({("a@example.com", FLASH): 1, ("a@example.com", SONNET): 1,
                                     ("b@example.com", SONNET): 1})

    sent = [r for r in fake.requests if r.rpc == "generateContent"]
    request = sent[0].body["request"]
    assert request["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]
    assert request["generationConfig"]["maxOutputTokens"] <= 8
    assert request["generationConfig"]["thinkingConfig"]["includeThoughts"] is False
    assert sent[0].body["project"] == fake.account(sent[0].email).project

    # The pool still says 100 % (no quota refresh yet): the cooldown alone keeps it at one request.
    for _ in range(3):
        clock.advance(600)
        assert await w.warmer.warm_due() == []
    assert sum(warmups(fake).values()) == 3

    # Saved before each request went out: a restarted daemon (a new Warmer on the same store) waits too.
    history = await repo.get_setting(HISTORY_PREFIX + a)
    assert set(history) == {FLASH, SONNET}
    async with open_world(fake, repo, w.config.data_path, clock,
                          **{"warmup.enabled": True, "warmup.models": MODELS}) as restarted:
        assert await restarted.warmer.warm_due() == []
        clock.advance(w.config.warmup.cooldown)
        again = await restarted.warmer.warm_due()  # still 100 % as far as the pool knows: once more, once
        assert len(again) == 3 and await restarted.warmer.warm_due() == []
    assert sum(warmups(fake).values()) == 6


async def test_a_model_seen_below_100_is_forgotten_and_warmed_after_its_reset(w, fake, clock, repo):
    a = await w.add("a@example.com")
    assert len(await w.warmer.warm_due()) == 2
    await w.quota.refresh_account(a)  # the warmups used a little: 99 %
    assert w.pool.get(a).percents[FLASH] == 99
    assert await w.warmer.warm_due() == []
    assert await repo.get_setting(HISTORY_PREFIX + a) == {}  # forgotten, and saved so

    clock.advance(5 * 3600 + 1)  # the fake's window resets: 100 % again, long before the 4 h cooldown of a new pair
    await w.quota.refresh_account(a)
    assert len(await w.warmer.warm_due()) == 2
    assert warmups(fake)[("a@example.com", FLASH)] == 2


async def test_unusable_and_forbidden_accounts_are_not_warmed(w, fake, repo):
    a = await w.add("a@example.com")
    b = await w.add("b@example.com")
    await repo.set_proxy_disabled(a, True, "operator")
    await w.registry.reload()
    fake.inject("custom", account="b@example.com", rpcs="fetchAvailableModels", status=403,
                body={"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}})
    await w.quota.refresh_account(b)
    assert await w.warmer.warm_due() == []
    with pytest.raises(LifecycleError) as info:
        await w.warmer.warm_account(a)
    assert info.value.status == 409


async def test_failed_warmup_is_retried_later_not_at_once(w, fake, clock):
    await w.add("a@example.com")
    fake.inject("server_error", account="a@example.com", model=FLASH, rpcs="generateContent")
    outcomes = {o["model"]: o for o in await w.warmer.warm_due()}
    assert outcomes[FLASH]["ok"] is False and outcomes[FLASH]["error"] == "server_error"
    assert outcomes[SONNET]["ok"] is True
    clock.advance(FAILED_RETRY - 1)
    assert await w.warmer.warm_due() == []
    clock.advance(1)
    assert [(o["model"], o["ok"]) for o in await w.warmer.warm_due()] == [(FLASH, True)]


async def test_manual_warmup_ignores_cooldown_but_not_the_quota(w, fake, clock):
    a = await w.add("a@example.com")
    fake.set_quota("a@example.com", SONNET, remaining_fraction=0.3)
    result = await w.warmer.warm_account(a)  # refreshes the quota first
    assert result["warmed"] == [FLASH]
    assert [s["model"] for s in result["skipped"]] == [SONNET] and "30 %" in result["skipped"][0]["reason"]
    assert result["failed"] == []
    assert warmups(fake) == Counter({("a@example.com", FLASH): 1})
    assert await w.warmer.warm_due() == []  # the scheduled pass respects what the manual one did

    everything = await w.warmer.warm_all()
    assert everything["accounts"] == 1 and everything["warmed"] == 0  # flash is at 99 % now: nothing to start


async def test_disabled_warmup_task_ends_at_once(fake, repo, data_dir, clock):
    async with open_world(fake, repo, data_dir, clock) as w:
        assert w.config.warmup.enabled is False
        with trio.fail_after(5):
            await w.warmer.run()


async def test_enabled_warmup_task_warms(w, fake):
    await w.add("a@example.com")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(w.warmer.run)
        with trio.fail_after(10):
            await fake.wait_for_requests(2, rpc="generateContent", email="a@example.com")
        nursery.cancel_scope.cancel()
    assert warmups(fake) == Counter({("a@example.com", FLASH): 1, ("a@example.com", SONNET): 1})


@pytest.mark.parametrize(("model", "thinking"), [
    ("gemini-3-flash", {"includeThoughts": False, "thinkingLevel": "low"}),
    ("claude-opus-4-6-thinking", {"includeThoughts": False, "thinkingBudget": 0}),
    ("gemini-2.5-flash", {"includeThoughts": False, "thinkingBudget": 0}),
])
def test_envelope_turns_thinking_off(model, thinking):
    env = warmup_envelope(model, "proj", "agent-1")
    assert env["request"]["generationConfig"]["thinkingConfig"] == thinking
    assert env["model"] == model and env["project"] == "proj" and env["requestType"] == "agent"


async def test_every_warmup_envelope_is_accepted_by_the_strict_fake(w, fake):
    """The envelope passes the fake's strict validation for every model of the catalogue (no 400)."""
    account = fake.add_account("strict@example.com")
    access = fake.account("strict@example.com").access_token
    for model in account.models.values():
        if model.internal:
            continue
        await w.upstream.generate(access, warmup_envelope(model.id, account.project, "agent-x"))


async def test_a_warmup_by_another_process_counts_here(w, fake, repo, clock):
    """The CLI (or another instance) warms a pair: this warmer, already running, does not warm it again."""
    await w.add("a@example.com")
    assert len(await w.warmer.warm_due()) == 2
    fake.stats.reset()
    async with open_world(fake, repo, w.config.data_path, clock,
                          **{"warmup.enabled": True, "warmup.models": MODELS}) as cli:
        assert len(await cli.warmer.warm_due()) == 0  # the running warmer above already did both
    assert await w.warmer.warm_due() == []
    clock.advance(w.config.warmup.cooldown)
    async with open_world(fake, repo, w.config.data_path, clock,
                          **{"warmup.enabled": True, "warmup.models": MODELS}) as cli:
        assert len(await cli.warmer.warm_due()) == 2  # cooldown over: the other process warms them
    assert await w.warmer.warm_due() == []  # and this one sees that at its next pass
    assert warmups(fake) == Counter({("a@example.com", FLASH): 1, ("a@example.com", SONNET): 1})

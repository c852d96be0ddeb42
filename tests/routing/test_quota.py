from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antigravityd.routing.quota import (
    ModelQuota,
    ProtectionPolicy,
    QuotaBook,
    WarmupTracker,
    parse_reset_time,
    quota_from_info,
)

T0 = datetime(2026, 8, 5, 2, 38, 57, tzinfo=UTC).timestamp()
POLICY = ProtectionPolicy(threshold=10, monitored=frozenset({"m1", "m2"}))


def test_parse_rfc3339():
    assert parse_reset_time("2026-08-05T02:38:57Z") == T0
    assert parse_reset_time("2026-08-05T02:38:57.500Z") == T0 + 0.5
    assert parse_reset_time("2026-08-05T04:38:57+02:00") == T0
    for bad in ("4h 30m", "", None, 12, "2026-08-05T02:38:57", "garbage"):
        assert parse_reset_time(bad) is None


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_parse_round_trips(moment):
    text = moment.isoformat().replace("+00:00", "Z")
    assert parse_reset_time(text) == pytest.approx(moment.timestamp())


def test_quota_info_missing_fraction_means_exhausted():
    assert quota_from_info({"remainingFraction": 0.7829875, "resetTime": "2026-08-05T02:38:57Z"}) == ModelQuota(
        0.7829875, T0
    )
    assert quota_from_info({"resetTime": "2026-08-05T02:38:57Z"}) == ModelQuota(0.0, T0)
    assert quota_from_info({}) is None
    assert quota_from_info(None) is None
    assert quota_from_info({"remainingFraction": 1.5}).fraction == 1.0
    assert ModelQuota(0.7829875).percent == 78 and ModelQuota(0.29).percent == 29


def test_protection_threshold_monitored_zero_and_auto_restore():
    book = QuotaBook()
    change = book.update(
        {"m1": ModelQuota(0.10), "m2": ModelQuota(0.11), "other": ModelQuota(0.05), "dead": ModelQuota(0.0)},
        wall=T0,
        policy=POLICY,
    )
    assert change.protected == ("dead", "m1") and not change.unprotected
    change = book.update({"m1": ModelQuota(0.5), "dead": ModelQuota(1.0)}, wall=T0, policy=POLICY)
    assert change.unprotected == ("dead", "m1") and not book.protected
    no_restore = ProtectionPolicy(threshold=10, monitored=frozenset({"m1"}), auto_restore=False)
    book.update({"m1": ModelQuota(0.01)}, wall=T0, policy=no_restore)
    assert not book.update({"m1": ModelQuota(1.0)}, wall=T0, policy=no_restore)
    assert book.protected == {"m1"}


def test_quota_exhausted_protection_is_restored_by_a_later_update():
    book = QuotaBook()
    assert book.protect("unmonitored")
    assert not book.protect("unmonitored")
    change = book.update({"unmonitored": ModelQuota(0.9)}, wall=T0, policy=POLICY)
    assert change.unprotected == ("unmonitored",)


def test_forbidden_protects_monitored_and_disabled_policy_changes_nothing():
    book = QuotaBook()
    assert book.update({}, wall=T0, policy=POLICY, forbidden=True).protected == ("m1", "m2")
    off = QuotaBook()
    assert not off.update({"m1": ModelQuota(0.0)}, wall=T0, policy=ProtectionPolicy(enabled=False))
    assert not off.protected


def test_needs_refresh_only_after_a_reset_passed_since_the_fetch():
    book = QuotaBook()
    assert book.needs_refresh(T0)
    book.update({"m1": ModelQuota(0.5, T0 + 3600), "full": ModelQuota(1.0, T0 + 60)}, wall=T0, policy=POLICY)
    assert not book.needs_refresh(T0 + 120)  # the full model's reset means nothing
    assert book.needs_refresh(T0 + 3600)
    assert book.next_refresh_at(900) == T0 + 900
    assert book.next_refresh_at(7200) == T0 + 3605
    # A reset time that was already in the past when we fetched does not cause a refetch loop.
    book.update({"m1": ModelQuota(0.5, T0 - 10)}, wall=T0, policy=POLICY)
    assert not book.needs_refresh(T0 + 60)


def test_warmup_candidates_cooldown_per_account_and_model():
    full, half = ModelQuota(1.0), ModelQuota(0.5)
    a = QuotaBook(models={"m1": full, "M2": full, "m3": full})
    b = QuotaBook(models={"m1": half, "m2": full})
    w = WarmupTracker()
    books = [("a", a), ("b", b)]
    assert w.candidates(books, ["m1", "m2"], cooldown=100, wall=0) == [("a", "m1"), ("a", "M2"), ("b", "m2")]
    w.record("a", "m1", 0)
    assert w.candidates(books, ["m1"], cooldown=100, wall=50) == []
    assert w.candidates(books, ["m1"], cooldown=100, wall=100) == [("a", "m1")]
    # Dropping below 100 % forgets the pair, so it is warmed again right after its next reset.
    a.models["m1"] = half
    assert w.candidates(books, ["m1"], cooldown=100, wall=60) == []
    a.models["m1"] = full
    assert w.candidates(books, ["m1"], cooldown=100, wall=61) == [("a", "m1")]
    w.record("a", "m2", 0)
    w.prune(1000, max_age=500)
    assert w.entries() == {}

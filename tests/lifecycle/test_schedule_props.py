"""Property tests of the scheduler's pure parts: when an account is due, and store → routing quota conversion."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from antigravityd.accounts.quota import RESET_SLACK, next_due, pool_quotas, retry_delay
from antigravityd.routing.quota import ModelQuota, QuotaBook
from antigravityd.store import ModelQuota as StoreQuota

T0 = 1_780_000_000.0
times = st.floats(T0 - 86_400, T0 + 86_400, allow_nan=False)
fractions = st.floats(0.0, 1.0, allow_nan=False)
books = st.builds(
    lambda models, fetched: QuotaBook(models=models, fetched_at=fetched),
    st.dictionaries(st.sampled_from(["a", "b", "c", "d"]),
                    st.builds(ModelQuota, fractions, st.one_of(st.none(), times)), max_size=4),
    st.one_of(st.none(), times),
)
intervals = st.floats(60, 86_400, allow_nan=False)


@given(books, intervals)
def test_regular_schedule(book, interval):
    due = next_due(book, interval=interval)
    if book.fetched_at is None:
        assert due == -math.inf  # never fetched: now
        return
    assert due <= book.fetched_at + interval  # never later than the interval
    # Only a reset *after* the last fetch, of a model that was not full, can bring it forward.
    earlier = [q.reset_at + RESET_SLACK for q in book.models.values()
               if q.reset_at is not None and q.reset_at > book.fetched_at and q.fraction < 1.0]
    assert due == min([book.fetched_at + interval, *earlier])
    assert due > book.fetched_at  # a stale reset time never makes it due again at once (the seed's bug)


@given(books, intervals, times)
def test_back_off_delays_and_early_request_wins(book, interval, retry_at):
    assert next_due(book, interval=interval, retry_at=retry_at) >= retry_at
    assert next_due(book, interval=interval, retry_at=retry_at, early_at=T0) == T0


@given(st.integers(1, 100), intervals)
def test_retry_delay_grows_and_is_capped(failures, interval):
    delay = retry_delay(failures, interval)
    assert 0 < delay <= interval
    assert retry_delay(failures + 1, interval) >= delay


@given(st.dictionaries(st.text(min_size=1, max_size=8),
                       st.builds(StoreQuota, st.one_of(st.none(), fractions),
                                 st.one_of(st.none(), st.builds(lambda t: datetime.fromtimestamp(t, UTC), times))),
                       max_size=6))
def test_pool_quotas_matches_the_registry_rules(models):
    converted = pool_quotas(models)
    assert converted.keys() == models.keys()
    for name, q in models.items():
        got = converted[name]
        if q.remaining_fraction is not None:
            assert got.fraction == q.remaining_fraction
        else:
            assert got.fraction == (0.0 if q.reset_time is not None else 1.0)  # Google omits 0; nothing known = full
        assert got.reset_at == (q.reset_time.timestamp() if q.reset_time else None)

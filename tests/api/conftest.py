"""One gateway (fake upstream + daemon + accounts) per test module; faults are cleared before every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway import Gateway, start_gateway

ACCOUNTS = [{"email": "alice@fake.test", "tier": "g1-pro-tier"}, {"email": "bob@fake.test"},
            {"email": "carol@fake.test"}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = start_gateway(Path(tmp_path_factory.mktemp("gateway")), accounts=ACCOUNTS,
                      settings={"security.auth_mode": "strict"})
    try:
        yield g
    finally:
        g.close()


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> None:
    if "gateway" in request.fixturenames:
        request.getfixturevalue("gateway").fake.control("DELETE", "/faults")

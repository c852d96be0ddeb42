from hypothesis import given
from hypothesis import strategies as st

from antigravityd.routing.tiers import Tier, tier_from_id


def test_known_ids():
    assert tier_from_id("ws-ai-ultra-business-tier") is Tier.ULTRA_BUSINESS
    assert tier_from_id("g1-ultra-tier") is Tier.ULTRA
    assert tier_from_id("g1-pro-tier") is Tier.PRO
    assert tier_from_id("free-tier") is Tier.FREE
    assert tier_from_id("standard-tier") is Tier.UNKNOWN
    assert tier_from_id(None) is Tier.UNKNOWN
    assert tier_from_id("") is Tier.UNKNOWN


def test_case_insensitive_and_priority_order():
    assert tier_from_id("G1-ULTRA-TIER") is Tier.ULTRA
    assert [t.value for t in sorted(Tier)] == [0, 1, 2, 3, 4]
    assert Tier.ULTRA_BUSINESS.is_ultra and Tier.ULTRA.is_ultra
    assert not Tier.PRO.is_ultra and not Tier.UNKNOWN.is_ultra
    assert Tier.ULTRA_BUSINESS.label == "ultra-business"


@given(st.text(max_size=40))
def test_ultra_business_beats_ultra_whatever_surrounds_it(s):
    assert tier_from_id(s + "ultra-business" + s) is Tier.ULTRA_BUSINESS
    # Anything containing a tier word is never classified lower than that word's tier.
    assert tier_from_id(s + "free" + s) <= Tier.FREE

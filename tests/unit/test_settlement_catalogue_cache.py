"""The settle path's catalogue cache: entries live for one catalogue generation only."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.settlement.repository import _CatalogueCache
from services.settlement.service import CatalogueItem, ItemClass

ON = date(2026, 9, 5)
REGION = "350500"


def _item(code: str, item_class: ItemClass = "A") -> CatalogueItem:
    return CatalogueItem(code=code, name=code, item_class=item_class, preselfpay_ratio=Decimal("0"))


def test_a_stored_lookup_is_served_for_the_same_generation_date_and_region_only() -> None:
    cache = _CatalogueCache()
    assert cache.lookup(7, ["A1", "B2"], REGION, ON) == ([], ["A1", "B2"])
    cache.store(7, ["A1", "B2"], REGION, ON, [_item("A1")])
    # B2 is not in the catalogue: that is cached too (an empty list), not asked again.
    assert cache.lookup(7, ["B2", "A1"], REGION, ON) == ([_item("A1")], [])
    assert cache.lookup(7, ["A1"], REGION, date(2026, 9, 6)) == ([], ["A1"])  # another day
    assert cache.lookup(7, ["A1"], "350200", ON) == ([], ["A1"])  # another region's catalogue


def test_another_generation_drops_everything_cached() -> None:
    cache = _CatalogueCache()
    cache.store(None, ["A1"], REGION, ON, [])  # before the first lookup: generation None matches
    cache.lookup(7, ["A1"], REGION, ON)
    cache.store(7, ["A1"], REGION, ON, [_item("A1")])
    assert cache.lookup(8, ["A1"], REGION, ON) == ([], ["A1"])  # replaced catalogue: asked again
    assert cache.lookup(7, ["A1"], REGION, ON) == ([], ["A1"])  # an older snapshot does not revive it


def test_what_was_read_under_a_generation_since_replaced_is_not_kept() -> None:
    cache = _CatalogueCache()
    cache.lookup(7, ["A1"], REGION, ON)  # request 1 saw generation 7 and reads A1...
    cache.lookup(8, ["A1"], REGION, ON)  # ... meanwhile request 2 saw the replacement
    cache.store(7, ["A1"], REGION, ON, [_item("A1", "B")])  # request 1's answer is not cached for 8
    assert cache.lookup(8, ["A1"], REGION, ON) == ([], ["A1"])


def test_the_cache_starts_again_past_its_bound() -> None:
    cache = _CatalogueCache()
    cache.lookup(1, [], REGION, ON)
    for n in range(cache.MAX_ENTRIES + 2):
        cache.store(1, [f"C{n}"], REGION, ON, [])
    assert len(cache.entries) <= cache.MAX_ENTRIES + 1

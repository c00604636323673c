"""The pure parts of the store port: URL masking and the claim planner."""

from __future__ import annotations

import pytest

from momentum.runtime.store import ClaimCandidate, claimable_followers, mask_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://app:s3cret@db:5432/orders", "postgresql://app:***@db:5432/orders"),
        ("postgresql://app@db/orders", "postgresql://app@db/orders"),
        ("postgresql://app:p@ss@db/orders", "postgresql://app:***@db/orders"),
        (
            "postgresql://db/orders?user=app&password=s3cret",
            "postgresql://db/orders?user=app&password=***",
        ),
        (
            "host=db user=app password=s3cret dbname=orders",
            "host=db user=app password=*** dbname=orders",
        ),
        ("host=db password = 'a b\\' c' dbname=x", "host=db password = *** dbname=x"),
        ("sqlite:///data/momentum.db", "sqlite:///data/momentum.db"),
    ],
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected


def row(i: int, key: str | None, *, at: float = 0, lease: float | None = None) -> ClaimCandidate:
    return ClaimCandidate(i, "topic", key, at, lease)


def test_followers_stop_at_the_first_row_that_is_not_eligible() -> None:
    rows = [
        row(2, "a"),
        row(3, "b", at=50),  # b waits for a retry delay: 5 must wait too
        row(4, "a", lease=20),  # lease expired: eligible
        row(5, "b"),
        row(6, "a", lease=99),  # still leased (a stale relay): 7 must wait
        row(7, "a"),
    ]
    assert [c.id for c in claimable_followers(rows, now=30, limit=10)] == [2, 4]


def test_followers_limit_keeps_each_stream_a_prefix() -> None:
    rows = [row(2, "a"), row(3, "b"), row(4, "a"), row(5, "b")]
    assert [c.id for c in claimable_followers(rows, now=0, limit=3)] == [2, 3, 4]

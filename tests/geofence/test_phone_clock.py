"""A phone's clock that is off: how far its pings are moved onto the server's clock (pure)."""

from __future__ import annotations

import pytest

from geofence.pings import phone_clock_offset

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("kept", "sent_at", "offset"),
    [
        (0.0, None, 0.0),  # the app does not say: nothing to go by
        (0.0, NOW - 2.5, 0.0),  # right, but for the request's transit
        (0.0, NOW - 45, 0.0),  # within a minute: taken as it is
        (0.0, NOW - 1200.4, 1200.0),  # twenty minutes slow
        (0.0, NOW + 600, -600.0),  # ten minutes fast
        (1200.0, NOW - 1203, 1200.0),  # the same batch sent again, or the next: no change
        (1200.0, None, 1200.0),  # a batch without sent_at: the correction known
        (1200.0, NOW - 1, 0.0),  # the phone's clock was set right
        (1200.0, NOW - 3600, 3600.0),  # and moved again
    ],
)
def test_the_correction_follows_the_phone_s_clock_and_holds_still_otherwise(
    kept: float, sent_at: float | None, offset: float
) -> None:
    assert phone_clock_offset(kept, sent_at, NOW) == offset

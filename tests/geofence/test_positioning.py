"""Presence under positioning errors as real indoor positioning makes them: errors that last,
fixes on the wrong floor, shoppers who browse (issue 27). On a small plan:

    y
    14 |                                       [E] escalator, x 40-44, y 10-14, both floors
     8 +---------+---------+ ............. corridor above y = 8
       |    A    |    B    |
     0 +---------+---------+
       0        10        20  x (metres)

A and B share the wall at x = 10 and open onto the corridor; level 1 has a store C over A.
"""

from __future__ import annotations

import math
import random

import pytest

from geofence.index import MALL, ZoneIndex, ZoneShape
from geofence.presence import (
    Observation,
    PingFlag,
    PresenceRules,
    PresenceState,
    PresenceTracker,
    Transition,
)
from tests.support.plan import lonlat, rect

A, B, C, E0, E1 = 1, 2, 3, 4, 5
T0 = 1_000_000.0


@pytest.fixture(scope="module")
def index() -> ZoneIndex:
    zones = [
        ZoneShape(A, 0, rect(0, 0, 10, 8), "store", "A"),
        ZoneShape(B, 0, rect(10, 0, 20, 8), "store", "B"),
        ZoneShape(C, 1, rect(0, 0, 10, 8), "store", "C"),
        ZoneShape(E0, 0, rect(40, 10, 44, 14), "escalator", "E"),
        ZoneShape(E1, 1, rect(40, 10, 44, 14), "escalator", "E"),
    ]
    return ZoneIndex.build(1, 1, rect(-20, -10, 60, 40), zones, floors=[0, 1])


class Phone:
    """A shopper's phone: a fix every 3-6 s, off by an offset held for the whole walk plus an
    error that lasts `tau_s` (white when 0)."""

    def __init__(self, index: ZoneIndex, *, seed: int, sigma_m: float = 2.0, tau_s: float = 0.0,
                 offset: tuple[float, float] = (0.0, 0.0)) -> None:  # fmt: skip
        self.index, self.rng = index, random.Random(seed)
        self.sigma, self.tau, self.offset = sigma_m, tau_s, offset
        self.tracker = PresenceTracker(PresenceRules(), index)
        self.state = PresenceState()
        self.t, self.x, self.y, self.level = T0, 5.0, 20.0, 0
        self.core = (0.0, 0.0)
        self.events: list[Transition] = []
        self.flags: list[PingFlag] = []
        self.times: list[float] = []  # of each report, beside its flag

    def walk_to(self, x: float, y: float, speed: float = 1.2) -> None:
        steps = max(1, round(math.dist((self.x, self.y), (x, y)) / (speed * 4)))
        x0, y0 = self.x, self.y
        for i in range(1, steps + 1):
            self.x, self.y = x0 + (x - x0) * i / steps, y0 + (y - y0) * i / steps
            self.report(4.0)

    def stand(self, seconds: float, *, level: int | None = None) -> None:
        end = self.t + seconds
        while self.t < end:
            self.report(self.rng.uniform(3, 6), level=level)

    def report(self, after_s: float, *, level: int | None = None) -> None:
        self.t += after_s
        keep = math.exp(-after_s / self.tau) if self.tau else 0.0
        fresh = self.sigma * math.sqrt(1 - keep * keep)
        self.core = (keep * self.core[0] + fresh * self.rng.gauss(0, 1),
                     keep * self.core[1] + fresh * self.rng.gauss(0, 1))  # fmt: skip
        x, y = self.x + self.offset[0] + self.core[0], self.y + self.offset[1] + self.core[1]
        floor = self.level if level is None else level
        lon, lat = lonlat(x, y)
        zones = self.index.locate([lon], [lat], [floor])[0]
        advance = self.tracker.advance(self.state, [Observation(self.t, lon, lat, 4.0, floor,
                                                                zones)])  # fmt: skip
        self.state = advance.state
        self.events += advance.events
        self.flags += advance.flags
        self.times.append(self.t)

    def units(self) -> list[tuple[str, int]]:
        """Enters and exits of the stores (dwells left out)."""
        return [(e.kind, e.zone_id) for e in self.events
                if e.zone_id in (A, B, C) and e.kind != "dwell"]  # fmt: skip


def test_a_bias_towards_the_neighbour_is_not_taken_for_certainty(index: ZoneIndex) -> None:
    # The case of issue 27: 1.5 m inside A by the wall it shares with B, every fix about 3 m
    # towards B for minutes (a lasting error with a little noise on it). Counted as independent
    # fixes, B was entered at 0.999 on four fixes. Nothing in the fixes tells the bias from
    # where the shopper stands; what they do tell is that their errors repeat, so that they are
    # worth few fixes, and that an offset may lie under them: B is possible, never certain.
    confidences = []
    for seed in range(10):
        phone = Phone(index, seed=seed, sigma_m=1.0, tau_s=30.0, offset=(3.0, 0.0))
        phone.walk_to(5, 9)
        phone.walk_to(8.5, 4)
        phone.stand(240)
        confidences += [e.confidence for e in phone.events if e.kind == "enter" and e.zone_id == B]
    assert confidences
    assert all(c is not None and c < 0.98 for c in confidences)


def test_one_fix_on_the_wrong_floor_changes_nothing(index: ZoneIndex) -> None:
    phone = Phone(index, seed=1, sigma_m=1.0)
    phone.walk_to(5, 9)
    phone.walk_to(5, 4)
    phone.stand(90)
    assert phone.units() == [("enter", A)]
    phone.report(4.0, level=1)  # one fix a floor up, over store C
    assert phone.flags[-1] == PingFlag.FLOOR_UNCONFIRMED
    phone.stand(90)
    assert phone.units() == [("enter", A)]
    assert phone.state.level == 0


def test_a_burst_on_the_wrong_floor_ends_no_visit(index: ZoneIndex) -> None:
    # Forty seconds of fixes one floor up, in the middle of a five-minute stand: one visit.
    phone = Phone(index, seed=2, sigma_m=1.0)
    phone.walk_to(5, 9)
    phone.walk_to(5, 4)
    phone.stand(120)
    phone.stand(40, level=1)
    phone.stand(140)
    assert phone.units() == [("enter", A)]
    assert not [e for e in phone.events if e.reason == "level_change"]


def test_a_floor_change_at_the_escalator_is_taken_at_once(index: ZoneIndex) -> None:
    phone = Phone(index, seed=3, sigma_m=1.0)
    phone.walk_to(42, 12)  # onto the escalator
    phone.level = 1
    phone.report(4.0)
    phone.report(4.0)
    assert phone.state.level == 1
    assert phone.flags[-2:] == [PingFlag.FLOOR_UNCONFIRMED, PingFlag.NONE]
    phone.walk_to(5, 9)
    phone.walk_to(5, 4)
    phone.stand(120)
    assert phone.units() == [("enter", C)]


def test_a_floor_change_away_from_any_escalator_takes_a_minute_of_evidence(
    index: ZoneIndex,
) -> None:
    # A lift the plan does not have, at the far end of the corridor: a minute of fixes on the
    # floor above, then the shopper is there (not before).
    phone = Phone(index, seed=4, sigma_m=1.0)
    phone.walk_to(-10, 20)
    phone.level = 1
    began = phone.t
    phone.stand(50)
    assert phone.state.level == 0
    phone.stand(20)
    assert phone.state.level == 1
    changed = next(t for t, f in zip(phone.times, phone.flags, strict=True)
                   if t > began and f == PingFlag.NONE)  # fmt: skip
    assert changed - began >= 60


def test_a_browsing_shopper_is_entered_once(index: ZoneIndex) -> None:
    # From shelf to shelf at 0.4 m/s, half a minute at each, for five minutes.
    for seed in range(5):
        phone = Phone(index, seed=seed)
        phone.walk_to(5, 9)
        rng = random.Random(seed)
        for _ in range(8):
            phone.walk_to(rng.uniform(3, 7), rng.uniform(2.5, 5.5), speed=0.4)
            phone.stand(30)
        assert phone.units() == [("enter", A)], seed


def test_the_mall_is_never_left_for_a_fix_on_another_floor(index: ZoneIndex) -> None:
    phone = Phone(index, seed=5, sigma_m=1.0)
    phone.walk_to(5, 9)
    phone.stand(30)
    phone.report(4.0, level=1)
    assert [e for e in phone.events if e.zone_id == MALL] == [phone.events[0]]

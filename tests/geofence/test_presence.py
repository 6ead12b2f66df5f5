"""The presence state machine on scripted walks through the real mall's Starbucks units.

Most tests here pin the per-ping rule of areas: the units are made areas, as an operator may
(zone occupancy "area"). The last ones walk into the same units as units: occupancy inference
(geofence.occupancy, tested on its own in test_occupancy.py) inside the state machine.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest
from shapely.geometry import LineString, Point
from shapely.ops import polylabel

from geofence.index import MALL, ZoneIndex
from geofence.presence import (
    PingFlag,
    PresenceRules,
    PresenceState,
    PresenceTracker,
    Transition,
)
from tests.support.walks import STARBUCKS_F1, STARBUCKS_F2, Mall, observe, real_mall

RULES = PresenceRules(exit_margin_m=4, max_accuracy_m=50, max_speed_mps=15, timeout_s=600)


@pytest.fixture(scope="module")
def mall() -> Mall:
    return real_mall(dwell_s=60, occupancy="area")


@pytest.fixture(scope="module")
def units() -> Mall:
    return real_mall(dwell_s=60)


def zone_events(events: list[Transition], zone_id: int) -> list[tuple[str, float]]:
    return [(e.kind, e.at) for e in events if e.zone_id == zone_id]


def inside_point(mall: Mall, key: str) -> tuple[float, float]:
    point = mall.zone(key).geometry.representative_point()
    return point.x, point.y


def boundary_walk(mall: Mall, key: str) -> tuple[float, float, float, float]:
    """The midpoint of the zone's longest edge and the unit normal pointing outwards (metres)."""
    geometry = mall.zone(key).geometry
    ring = list(geometry.exterior.coords)
    kx, ky = mall.index.frame.metres_per_degree
    (x1, y1), (x2, y2) = max(
        itertools.pairwise(ring),
        key=lambda e: math.hypot((e[1][0] - e[0][0]) * kx, (e[1][1] - e[0][1]) * ky),
    )
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    ex, ey = (x2 - x1) * kx, (y2 - y1) * ky
    length = math.hypot(ex, ey)
    nx, ny = ey / length, -ex / length
    probe = mall.offset(mx, my, nx * 0.5, ny * 0.5)
    if geometry.contains(Point(probe)):
        nx, ny = -nx, -ny
    return mx, my, nx, ny


def test_jitter_along_a_boundary_enters_once_and_exits_once(mall: Mall) -> None:
    zone_id = mall.ids[STARBUCKS_F1]
    mx, my, nx, ny = boundary_walk(mall, STARBUCKS_F1)
    # 60 pings a second apart, wobbling 2.5 m either side of the wall: GPS jitter.
    pings = []
    for i in range(60):
        offset = 2.5 if i % 2 else -2.5
        lon, lat = mall.offset(mx, my, nx * offset, ny * offset)
        pings.append((1000.0 + i, lon, lat, 2.0, 0))
    # Then the shopper walks away, 12 m out.
    for i, distance in enumerate((6, 9, 12)):
        lon, lat = mall.offset(mx, my, nx * distance, ny * distance)
        pings.append((1060.0 + i, lon, lat, 2.0, 0))
    advance = PresenceTracker(RULES, mall.index).advance(PresenceState(), observe(mall, pings))
    kinds = [kind for kind, _ in zone_events(advance.events, zone_id)]
    assert kinds == ["enter", "exit"]
    exit_event = next(e for e in advance.events if e.zone_id == zone_id and e.kind == "exit")
    assert exit_event.reason == "left"
    assert exit_event.at == 1060.0  # the first ping farther out than the 4 m margin (6 m)


def test_dwell_fires_once_at_the_threshold(mall: Mall) -> None:
    zone_id = mall.ids[STARBUCKS_F1]
    lon, lat = inside_point(mall, STARBUCKS_F1)
    pings = [(2000.0 + 10 * i, lon, lat, 2.0, 0) for i in range(20)]  # 190 s inside
    advance = PresenceTracker(RULES, mall.index).advance(PresenceState(), observe(mall, pings))
    assert zone_events(advance.events, zone_id) == [("enter", 2000.0), ("dwell", 2060.0)]
    dwell = next(e for e in advance.events if e.kind == "dwell")
    assert dwell.dwell_s == 60.0


def test_no_ping_for_the_timeout_exits_at_the_last_ping(mall: Mall) -> None:
    zone_id = mall.ids[STARBUCKS_F1]
    lon, lat = inside_point(mall, STARBUCKS_F1)
    tracker = PresenceTracker(RULES, mall.index)
    two_pings = [(3000.0, lon, lat, 2.0, 0), (3030.0, lon, lat, 2.0, 0)]
    first = tracker.advance(PresenceState(), observe(mall, two_pings))
    assert tracker.expire(first.state, silent_s=599).events == []
    swept = tracker.expire(first.state, silent_s=601)
    exits = [e for e in swept.events if e.kind == "exit"]
    assert [(e.zone_id, e.at, e.reason) for e in exits] == [
        (zone_id, 3030.0, "timeout"), (MALL, 3030.0, "timeout"),
    ]  # fmt: skip
    assert exits[0].dwell_s == 30.0
    assert swept.state.stays == {}
    # The same happens when the next ping comes after the timeout: exit, then a fresh enter.
    late = tracker.advance(first.state, observe(mall, [(4000.0, lon, lat, 2.0, 0)]))
    assert zone_events(late.events, zone_id) == [("exit", 3030.0), ("enter", 4000.0)]


def test_a_restart_in_the_middle_of_a_visit_does_not_enter_again(mall: Mall) -> None:
    zone_id = mall.ids[STARBUCKS_F1]
    lon, lat = inside_point(mall, STARBUCKS_F1)
    tracker = PresenceTracker(RULES, mall.index)
    before = tracker.advance(PresenceState(), observe(mall, [(5000.0, lon, lat, 2.0, 0)]))
    restored = PresenceState.from_json(before.state.to_json())  # what the database keeps
    after = tracker.advance(restored, observe(mall, [(5030.0 + i, lon, lat, 2.0, 0)
                                                     for i in range(31)]))  # fmt: skip
    assert zone_events(after.events, zone_id) == [("dwell", 5060.0)]


def test_out_of_order_and_duplicate_pings_change_nothing(mall: Mall) -> None:
    zone_id = mall.ids[STARBUCKS_F1]
    inside = inside_point(mall, STARBUCKS_F1)
    outside = mall.offset(*inside, 40, 0)
    tracker = PresenceTracker(RULES, mall.index)
    pings = [(6000.0, *inside, 2.0, 0), (6010.0, *inside, 2.0, 0)]
    late_and_dupes = [(6005.0, *outside, 2.0, 0), (6010.0, *outside, 2.0, 0)]
    advance = tracker.advance(PresenceState(), observe(mall, pings))
    again = tracker.advance(advance.state, observe(mall, late_and_dupes))
    assert again.events == []
    assert again.flags == [PingFlag.OUT_OF_ORDER, PingFlag.DUPLICATE]
    assert zone_id in again.state.stays
    assert again.state.last_ts == 6010.0


def test_a_teleport_is_flagged_and_causes_no_transition(mall: Mall) -> None:
    f1 = inside_point(mall, STARBUCKS_F1)
    other = inside_point(mall, "F1 STARBUCKS COFFEE 1")  # the other Starbucks, ~130 m away
    tracker = PresenceTracker(RULES, mall.index)
    start = tracker.advance(PresenceState(), observe(mall, [(7000.0, *f1, 3.0, 0)]))
    jump = tracker.advance(start.state, observe(mall, [(7002.0, *other, 3.0, 0)]))
    assert jump.flags == [PingFlag.IMPLAUSIBLE_SPEED]
    assert jump.events == []
    # Walking there at 1.4 m/s is fine.
    distance = mall.index.travel_m(*f1, *other)
    walk = tracker.advance(start.state, observe(mall, [(7000.0 + distance / 1.4, *other, 3.0, 0)]))
    assert walk.flags == [PingFlag.NONE]
    assert {e.kind for e in walk.events} == {"enter", "exit"}


def test_riding_the_escalator_changes_floor(mall: Mall) -> None:
    below, above = mall.ids[STARBUCKS_F1], mall.ids[STARBUCKS_F2]
    # A point inside both units: the F2 Starbucks lies right above the F1 one. No escalator
    # is near: the floor above must hold for a minute before the shopper is taken to be there.
    shared = mall.zone(STARBUCKS_F1).geometry.intersection(mall.zone(STARBUCKS_F2).geometry)
    point = shared.representative_point()
    pings = [(8000.0, point.x, point.y, 2.0, 0), (8010.0, point.x, point.y, 2.0, 0)]
    pings += [(8040.0 + 10 * i, point.x, point.y, 2.0, 1) for i in range(7)]
    advance = PresenceTracker(RULES, mall.index).advance(PresenceState(), observe(mall, pings))
    assert zone_events(advance.events, below) == [("enter", 8000.0), ("exit", 8100.0)]
    assert zone_events(advance.events, above) == [("enter", 8100.0)]
    exit_below = next(e for e in advance.events if e.zone_id == below and e.kind == "exit")
    assert exit_below.reason == "level_change"
    assert zone_events(advance.events, MALL) == [("enter", 8000.0)]  # still in the mall
    assert advance.flags[2:] == [PingFlag.FLOOR_UNCONFIRMED] * 6 + [PingFlag.NONE]


def test_a_ping_without_a_level_cannot_judge_floor_zones(mall: Mall) -> None:
    zone_id = mall.ids[STARBUCKS_F1]
    inside = inside_point(mall, STARBUCKS_F1)
    far = mall.offset(*inside, 60, 0)
    tracker = PresenceTracker(RULES, mall.index)
    start = tracker.advance(PresenceState(), observe(mall, [(9000.0, *inside, 2.0, 0)]))
    unknown_floor = tracker.advance(start.state, observe(mall, [(9060.0, *far, 2.0, None)]))
    assert zone_events(unknown_floor.events, zone_id) == []
    assert zone_id in unknown_floor.state.stays
    fresh = tracker.advance(PresenceState(), observe(mall, [(9000.0, *inside, 2.0, None)]))
    assert [e.zone_id for e in fresh.events] == [MALL]  # only the mall itself spans all levels


@pytest.mark.parametrize(("accuracy_m", "enters"), [(2.0, True), (4.0, True), (25.0, False)])
def test_accuracy_circle_must_be_mostly_inside_a_small_zone(
    mall: Mall, accuracy_m: float, enters: bool
) -> None:
    zone_id = mall.ids[STARBUCKS_F2]  # about 120 m²: a 25 m circle is mostly outside it
    centre = mall.zone(STARBUCKS_F2).geometry.centroid
    advance = PresenceTracker(RULES, mall.index).advance(
        PresenceState(), observe(mall, [(10_000.0, centre.x, centre.y, accuracy_m, 1)])
    )
    assert (zone_id in advance.state.stays) is enters
    assert MALL in advance.state.stays  # the mall is big: any of these is inside it


def test_too_inaccurate_pings_cause_nothing(mall: Mall) -> None:
    inside = inside_point(mall, STARBUCKS_F1)
    advance = PresenceTracker(RULES, mall.index).advance(
        PresenceState(), observe(mall, [(11_000.0, *inside, 80.0, 0)])
    )
    assert advance.flags == [PingFlag.LOW_ACCURACY]
    assert advance.events == []


def test_leaving_the_mall_ends_the_visit(mall: Mall) -> None:
    footprint = mall.index.footprint
    # Walk from the Starbucks on F1 straight out of the building, 1 m/s.
    start = Point(inside_point(mall, STARBUCKS_F1))
    exterior = footprint.exterior
    door = exterior.interpolate(exterior.project(start))
    kx, ky = mall.index.frame.metres_per_degree
    line = LineString([start, door])
    out_lon = door.x + (door.x - start.x) * 2
    out_lat = door.y + (door.y - start.y) * 2
    steps = int(math.hypot((out_lon - start.x) * kx, (out_lat - start.y) * ky))
    pings = [
        (12_000.0 + i, start.x + (out_lon - start.x) * i / steps,
         start.y + (out_lat - start.y) * i / steps, 2.0, 0)
        for i in range(steps + 1)
    ]  # fmt: skip
    assert line.length > 0
    advance = PresenceTracker(RULES, mall.index).advance(PresenceState(), observe(mall, pings))
    mall_events = [e for e in advance.events if e.zone_id == MALL]
    assert [e.kind for e in mall_events] == ["enter", "exit"]
    assert advance.state.stays == {}


# -- units: occupancy inference inside the state machine ------------------------------------------


def stand_in(
    mall: Mall, key: str, t0: float, seconds: float, *, level: int = 0, every_s: float = 6.0
) -> list[tuple[float, float, float, float, int | None]]:
    """Pings every `every_s` from the deepest point of the unit, ±1 m of noise, for `seconds`."""
    centre = polylabel(mall.zone(key).geometry, tolerance=1e-7)
    wobble = [(0.8, 0.0), (-0.6, 0.5), (0.1, -0.9), (-0.4, -0.3), (0.5, 0.7)]
    return [
        (t0 + i * every_s, *mall.offset(centre.x, centre.y, *wobble[i % len(wobble)]), 3.0, level)
        for i in range(int(seconds // every_s) + 1)
    ]


def test_a_unit_is_entered_on_a_stop_with_its_confidence_then_dwelled_in(units: Mall) -> None:
    zone_id = units.ids[STARBUCKS_F1]
    pings = stand_in(units, STARBUCKS_F1, 20_000.0, 120)
    advance = PresenceTracker(RULES, units.index).advance(PresenceState(), observe(units, pings))
    assert [e.zone_id for e in advance.events][:1] == [MALL]  # the mall at once, by the ping
    kinds = zone_events(advance.events, zone_id)
    assert [kind for kind, _ in kinds] == ["enter", "dwell"]
    enter = next(e for e in advance.events if e.zone_id == zone_id)
    assert 20_000.0 < enter.at <= 20_030.0  # after a stop: a few fixes, not the first one
    assert (enter.confidence or 0) >= RULES.occupancy.enter_confidence
    assert enter.evidence_from == 20_000.0
    assert (enter.evidence_fixes or 0) >= RULES.occupancy.min_fixes
    assert kinds[1][1] - enter.at == 60  # dwell counts from the enter


def test_walking_through_a_unit_enters_only_the_mall(units: Mall) -> None:
    geometry = units.zone(STARBUCKS_F1).geometry
    minx, miny, maxx, maxy = geometry.bounds
    kx, ky = units.index.frame.metres_per_degree
    across = math.hypot((maxx - minx) * kx, (maxy - miny) * ky) + 20
    start = units.offset(minx, miny, -10, -10)
    steps = int(across / 6)  # 1.2 m/s, a ping every 5 s
    pings = [(21_000.0 + 5 * i, *units.offset(*start, 6 * i * 0.7, 6 * i * 0.7), 3.0, 0)
             for i in range(steps + 1)]  # fmt: skip
    assert any(units.ids[STARBUCKS_F1] in o.zones for o in observe(units, pings))
    advance = PresenceTracker(RULES, units.index).advance(PresenceState(), observe(units, pings))
    assert {e.zone_id for e in advance.events if e.kind == "enter"} <= {MALL}


def test_a_restart_in_the_middle_of_a_unit_visit_does_not_enter_again(units: Mall) -> None:
    zone_id = units.ids[STARBUCKS_F1]
    tracker = PresenceTracker(RULES, units.index)
    pings = stand_in(units, STARBUCKS_F1, 22_000.0, 240)
    before = tracker.advance(PresenceState(), observe(units, pings[:8]))
    assert [k for k, _ in zone_events(before.events, zone_id)] == ["enter"]
    stored = json.dumps(before.state.to_json())  # what the presence row keeps
    assert len(stored) <= 1024
    after = tracker.advance(PresenceState.from_json(json.loads(stored)),
                            observe(units, pings[8:]))  # fmt: skip
    assert [k for k, _ in zone_events(after.events, zone_id)] == ["dwell"]


def test_late_and_duplicate_pings_do_not_move_a_unit_visit(units: Mall) -> None:
    zone_id = units.ids[STARBUCKS_F1]
    tracker = PresenceTracker(RULES, units.index)
    pings = stand_in(units, STARBUCKS_F1, 23_000.0, 40)
    advance = tracker.advance(PresenceState(), observe(units, pings))
    elsewhere = inside_point(units, "F1 STARBUCKS COFFEE 1")
    late = [(pings[-1][0], *elsewhere, 3.0, 0), (pings[2][0] + 1, *elsewhere, 3.0, 0)]
    again = tracker.advance(advance.state, observe(units, late))
    assert again.flags == [PingFlag.DUPLICATE, PingFlag.OUT_OF_ORDER]
    assert again.events == []
    assert again.state.occupancy.unit == zone_id


def test_silence_ends_a_unit_visit_at_the_last_ping_and_forgets_its_evidence(
    units: Mall,
) -> None:
    zone_id = units.ids[STARBUCKS_F1]
    tracker = PresenceTracker(RULES, units.index)
    pings = stand_in(units, STARBUCKS_F1, 24_000.0, 40)
    advance = tracker.advance(PresenceState(), observe(units, pings))
    swept = tracker.expire(advance.state, silent_s=RULES.timeout_s + 1)
    assert [(e.zone_id, e.kind, e.at, e.reason) for e in swept.events] == [
        (zone_id, "exit", pings[-1][0], "timeout"), (MALL, "exit", pings[-1][0], "timeout"),
    ]  # fmt: skip
    assert swept.state.occupancy.unit is None
    assert swept.state.occupancy.window == []


def test_the_escalator_leaves_the_unit_below_and_enters_the_one_above_on_its_own_stop(
    units: Mall,
) -> None:
    below, above = units.ids[STARBUCKS_F1], units.ids[STARBUCKS_F2]
    shared = units.zone(STARBUCKS_F1).geometry.intersection(units.zone(STARBUCKS_F2).geometry)
    centre = polylabel(shared, tolerance=1e-7)
    # A lift in the middle of a store is not on the plan: a minute on the floor above (from
    # 25,048) confirms the change, at the first fix after it (25,108).
    pings = [(25_000.0 + 6 * i, centre.x, centre.y, 3.0, 0 if i < 8 else 1) for i in range(26)]
    advance = PresenceTracker(RULES, units.index).advance(PresenceState(), observe(units, pings))
    assert [(e.zone_id, e.kind) for e in advance.events if e.zone_id != MALL] == [
        (below, "enter"), (below, "exit"), (above, "enter"),
    ]  # fmt: skip
    left, entered = advance.events[-2:]
    assert (left.reason, left.at) == ("level_change", 25_108.0)
    assert (entered.evidence_from or 0) >= 25_108.0  # on fixes of the floor above only


def test_a_unit_deleted_during_the_visit_is_exited(units: Mall) -> None:
    zone_id = units.ids[STARBUCKS_F1]
    pings = stand_in(units, STARBUCKS_F1, 26_000.0, 60)
    advance = PresenceTracker(RULES, units.index).advance(PresenceState(), observe(units, pings))
    assert advance.state.occupancy.unit == zone_id
    others = [z for z in units.index.zones.values() if z.zone_id != zone_id]
    without = ZoneIndex.build(1, 2, units.index.footprint, others)
    later = [(26_070.0, *pings[-1][1:3], 3.0, 0)]
    after = PresenceTracker(RULES, without).advance(
        advance.state, observe(Mall(without, units.ids), later)
    )
    assert [(e.zone_id, e.kind, e.reason) for e in after.events] == [
        (zone_id, "exit", "zone_removed")
    ]


def test_a_restart_before_every_ping_decides_as_one_process(units: Mall) -> None:
    # The presence row is all there is between two batches: read back before every ping, it
    # must give the events of one uninterrupted run (the stop, its confirmation, the dwell).
    tracker = PresenceTracker(RULES, units.index)
    pings = observe(units, stand_in(units, STARBUCKS_F1, 27_000.0, 120))
    whole = tracker.advance(PresenceState(), pings).events
    state, pieces = PresenceState(), list[Transition]()
    for ping in pings:
        state = PresenceState.from_json(json.loads(json.dumps(state.to_json())))
        step = tracker.advance(state, [ping])
        state, pieces = step.state, pieces + step.events
    assert [e.kind for e in whole if e.zone_id == units.ids[STARBUCKS_F1]] == ["enter", "dwell"]
    assert pieces == whole

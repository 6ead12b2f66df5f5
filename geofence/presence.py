"""The presence state machine: (state, pings) -> (state, events). Pure; time is a parameter.

Per device, and per zone the device is in (the mall itself takes part as zone `MALL`). Areas
(the mall, floors, corridors, food courts, campaign areas: zones that overlap freely) follow the
rule below, ping by ping. Units (stores, restaurants, restrooms: rooms a person is in one at a
time) are decided by occupancy inference over the recent fixes (geofence.occupancy): at most one
unit at a time, entered on a confirmed stop, with a confidence and its evidence.

    outside --enter--> inside --(dwell threshold reached, once)--> dwelling
       ^                 |                                            |
       +-----exit--------+--------------------exit--------------------+

- enter: the ping is in the zone (boundary included), at the zone's level or in an all-level
  zone, and at least half of its accuracy circle lies inside the zone.
- dwell: still in, `dwell_s` after the enter (0 disables dwell), once per visit.
- exit: a ping farther than the exit margin from the zone; a ping on another floor (for a
  zone of one floor); or no ping for the presence timeout (at the last ping seen).
- no transition at all from: duplicates (same timestamp), pings older than the last one
  (out of order), pings whose accuracy is worse than the limit, pings that imply an
  implausible speed since the last accepted one (a teleport), and pings on another floor
  until evidence confirms the change (geofence.floors; flagged `floor_unconfirmed`).
docs/geofencing.md has the full rules with examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import IntFlag
from typing import Any, Protocol

from geofence.floors import FloorRules, FloorRun, floor_evidence
from geofence.index import MALL
from geofence.occupancy import Fix, Occupancy, OccupancyTracker, UnitEvent
from geofence.stop import OccupancyRules


class PingFlag(IntFlag):
    NONE = 0
    DUPLICATE = 1
    OUT_OF_ORDER = 2
    LOW_ACCURACY = 4
    IMPLAUSIBLE_SPEED = 8
    FLOOR_UNCONFIRMED = 16


@dataclass(frozen=True)
class PresenceRules:
    exit_margin_m: float = 4.0
    enter_circle_share: float = 0.5
    max_accuracy_m: float = 50.0
    max_speed_mps: float = 15.0
    timeout_s: float = 600.0
    floors: FloorRules = field(default_factory=FloorRules)
    occupancy: OccupancyRules = field(default_factory=OccupancyRules)


@dataclass(frozen=True)
class Observation:
    """A ping, with the zones the ZoneIndex found it in."""

    ts: float  # Unix seconds
    lon: float
    lat: float
    accuracy_m: float
    level: int | None
    zones: frozenset[int]  # zone ids covering the point at its level (MALL if in the footprint)


@dataclass(frozen=True)
class Transition:
    kind: str  # enter | dwell | exit
    zone_id: int  # MALL for the mall visit
    at: float
    dwell_s: float | None = None
    level: int | None = None
    reason: str | None = None  # exits: left, moved, level_change, timeout, zone_removed, ...
    confidence: float | None = None  # unit enters: the probability the shopper is inside
    evidence_from: float | None = None  # unit enters: the first fix of the stop that decided
    evidence_fixes: int | None = None  # unit enters: how many fixes that stop holds


@dataclass
class ZoneStay:
    entered_at: float
    last_inside_at: float
    dwelled: bool = False


@dataclass
class PresenceState:
    last_ts: float | None = None
    last_lon: float | None = None
    last_lat: float | None = None
    last_accuracy_m: float = 0.0
    level: int | None = None
    stays: dict[int, ZoneStay] = field(default_factory=dict)
    occupancy: Occupancy = field(default_factory=Occupancy)  # which unit, and its evidence
    clock_offset_s: float = 0.0  # added to the phone's times (geofence.pings.phone_clock_offset)
    floor_run: FloorRun | None = None

    def to_json(self) -> dict[str, Any]:
        occupancy = self.occupancy
        tracked = occupancy.unit is not None or occupancy.stop is not None or occupancy.window
        return {
            **({"occupancy": occupancy.to_json()} if tracked else {}),
            **({"clock_offset_s": self.clock_offset_s} if self.clock_offset_s else {}),
            **({"floor_run": _run_json(self.floor_run)} if self.floor_run else {}),
            "last_ts": self.last_ts,
            "last_lon": self.last_lon,
            "last_lat": self.last_lat,
            "last_accuracy_m": self.last_accuracy_m,
            "level": self.level,
            "stays": {
                str(zone_id): [stay.entered_at, stay.last_inside_at, stay.dwelled]
                for zone_id, stay in self.stays.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PresenceState:
        return cls(
            last_ts=data.get("last_ts"),
            last_lon=data.get("last_lon"),
            last_lat=data.get("last_lat"),
            last_accuracy_m=data.get("last_accuracy_m", 0.0),
            level=data.get("level"),
            stays={
                int(zone_id): ZoneStay(entered, last, bool(dwelled))
                for zone_id, (entered, last, dwelled) in data.get("stays", {}).items()
            },
            occupancy=Occupancy.from_json(data["occupancy"])
            if "occupancy" in data
            else Occupancy(),
            clock_offset_s=data.get("clock_offset_s", 0.0),
            floor_run=FloorRun(*data["floor_run"]) if data.get("floor_run") else None,
        )


def _run_json(run: FloorRun) -> list[Any]:
    return [run.level, run.since, run.fixes, run.at_connector]


class ZoneGeometry(Protocol):
    """What the tracker asks of the zones (the ZoneIndex answers)."""

    def zone_level(self, zone_id: int) -> int | None: ...
    def area_m2(self, zone_id: int) -> float: ...
    def is_unit(self, zone_id: int) -> bool: ...
    def depth_m(self, zone_id: int, lon: float, lat: float) -> float: ...
    def units_at(self, lon: float, lat: float, level: int | None) -> frozenset[int]: ...
    def units_near(self, lon: float, lat: float, level: int | None, reach_m: float) -> set[int]: ...
    def zone_dwell_s(self, zone_id: int) -> int: ...
    def knows(self, zone_id: int) -> bool: ...
    def distance_m(self, zone_id: int, lon: float, lat: float) -> float: ...
    def circle_inside(self, zone_id: int, lon: float, lat: float, radius_m: float) -> float: ...
    def travel_m(self, lon1: float, lat1: float, lon2: float, lat2: float) -> float: ...
    def near_connector(self, lon: float, lat: float, level: int, within_m: float) -> bool: ...


@dataclass(frozen=True)
class Advance:
    state: PresenceState
    events: list[Transition]
    flags: list[PingFlag]  # one per observation, in the order given


class PresenceTracker:
    def __init__(self, rules: PresenceRules, zones: ZoneGeometry) -> None:
        self.rules = rules
        self.zones = zones
        self.occupancy = OccupancyTracker(rules.occupancy, zones)

    def advance(self, state: PresenceState, observations: Sequence[Observation]) -> Advance:
        """Apply pings in time order. The input state is not modified."""
        state = _copy(state)
        events: list[Transition] = []
        flags = [PingFlag.NONE] * len(observations)
        order = sorted(range(len(observations)), key=lambda i: observations[i].ts)
        for i in order:
            flags[i] = self._one(state, observations[i], events)
        return Advance(state, events, flags)

    def expire(self, state: PresenceState, silent_s: float) -> Advance:
        """Exits, at the last ping, for a device not heard from for the timeout (the sweep
        calls this). Silence is counted from when its last ping arrived, not from the ping's
        own time: a phone uploading pings it buffered offline is behind, not gone."""
        state = _copy(state)
        events: list[Transition] = []
        if state.last_ts is not None and silent_s > self.rules.timeout_s:
            self._exit_all(state, events, at=state.last_ts, reason="timeout")
        return Advance(state, events, [])

    def leave(self, state: PresenceState, *, reason: str) -> list[Transition]:
        """End every stay now (at the last ping), e.g. when the device turns up in another mall.

        Modifies `state` in place; the caller owns it.
        """
        events: list[Transition] = []
        if state.last_ts is not None:
            self._exit_all(state, events, at=state.last_ts, reason=reason)
        return events

    def _one(self, state: PresenceState, obs: Observation, events: list[Transition]) -> PingFlag:
        flag = self._take(state, obs, events)
        if flag is not PingFlag.NONE:
            return flag
        # Exits first (zones before the mall), then enters (the mall before zones); a unit's
        # exit and enter each come after the areas'.
        unit = state.occupancy.unit
        leaving = [z for z in state.stays if z != unit and self._leaves(z, obs)]
        out_of_mall = MALL in leaving
        for zone_id in sorted(z for z in leaving if z != MALL):
            self._exit(state, zone_id, obs, self._exit_reason(zone_id, obs), events)
        if out_of_mall:  # no store of the mall holds a shopper outside it
            decided = self.occupancy.end(state.occupancy, at=obs.ts, reason="left")
        else:
            decided = self._occupancy(state, obs)
        for event in decided:
            if event.kind == "exit":
                self._exit(state, event.zone_id, obs, event.reason, events)
        if out_of_mall:
            self._exit(state, MALL, obs, self._exit_reason(MALL, obs), events)
        for zone_id in sorted(obs.zones, key=lambda z: (z != MALL, z)):
            if not self.zones.is_unit(zone_id):
                self._area(state, zone_id, obs, events)
        entered = False
        for event in decided:
            if event.kind == "enter" and event.zone_id not in state.stays:
                entered = True
                state.stays[event.zone_id] = ZoneStay(event.at, event.at)
                events.append(
                    Transition(
                        "enter",
                        event.zone_id,
                        event.at,
                        level=obs.level,
                        confidence=event.confidence,
                        evidence_from=event.evidence_from,
                        evidence_fixes=event.evidence_fixes,
                    )
                )
        unit = state.occupancy.unit
        if unit is not None and unit in state.stays and not entered:
            self._still_in(unit, state.stays[unit], obs, events)
        return PingFlag.NONE

    def _exit(
        self,
        state: PresenceState,
        zone_id: int,
        obs: Observation,
        reason: str | None,
        events: list[Transition],
    ) -> None:
        stay = state.stays.pop(zone_id, None)
        dwell = obs.ts - stay.entered_at if stay else None
        events.append(Transition("exit", zone_id, obs.ts, dwell, obs.level, reason))

    def _take(self, state: PresenceState, obs: Observation, events: list[Transition]) -> PingFlag:
        """Whether the ping counts at all (NONE: it does); a timeout ends every stay first."""
        rules = self.rules
        if state.last_ts is not None:
            if obs.ts == state.last_ts:
                return PingFlag.DUPLICATE
            if obs.ts < state.last_ts:
                return PingFlag.OUT_OF_ORDER
            if obs.ts - state.last_ts > rules.timeout_s:
                self._exit_all(state, events, at=state.last_ts, reason="timeout")
            elif self._implausible(state, obs):
                return PingFlag.IMPLAUSIBLE_SPEED
        low_accuracy = obs.accuracy_m > rules.max_accuracy_m
        floor_changes = low_accuracy or self._floor_changes(state, obs)
        state.last_ts = obs.ts
        state.last_lon, state.last_lat = obs.lon, obs.lat
        state.last_accuracy_m = obs.accuracy_m
        if low_accuracy:
            return PingFlag.LOW_ACCURACY
        if not floor_changes:
            return PingFlag.FLOOR_UNCONFIRMED
        if obs.level is not None:
            state.level = obs.level
        return PingFlag.NONE

    def _floor_changes(self, state: PresenceState, obs: Observation) -> bool:
        """Whether the ping may be taken on its floor (geofence.floors decides)."""
        if obs.level is None or state.level is None or obs.level == state.level:
            state.floor_run = None
            return True
        zones, reach = self.zones, self.rules.floors.connector_m
        last, level = (state.last_lon, state.last_lat), state.level

        def was_at_connector() -> bool:
            return (
                last[0] is not None
                and last[1] is not None
                and (zones.near_connector(last[0], last[1], level, reach))
            )

        state.floor_run, taken = floor_evidence(
            state.floor_run,
            obs.level,
            obs.ts,
            self.rules.floors,
            in_unit=state.occupancy.unit is not None,
            was_at_connector=was_at_connector,
            at_connector=lambda: zones.near_connector(obs.lon, obs.lat, obs.level or 0, reach),
        )
        return taken

    def _area(
        self, state: PresenceState, zone_id: int, obs: Observation, events: list[Transition]
    ) -> None:
        """An area the ping lies in: entered when enough of its accuracy circle is inside."""
        current = state.stays.get(zone_id)
        if current is not None:
            self._still_in(zone_id, current, obs, events)
            return
        share = self.zones.circle_inside(zone_id, obs.lon, obs.lat, obs.accuracy_m)
        if share >= self.rules.enter_circle_share:
            state.stays[zone_id] = ZoneStay(obs.ts, obs.ts)
            events.append(Transition("enter", zone_id, obs.ts, level=obs.level))

    def _occupancy(self, state: PresenceState, obs: Observation) -> list[UnitEvent]:
        """The unit events this fix causes (geofence.occupancy decides)."""
        occupancy = state.occupancy
        if occupancy.unit is not None and not self.zones.knows(occupancy.unit):
            gone = self.occupancy.end(occupancy, at=obs.ts, reason="zone_removed")
        else:
            gone = []
        units = frozenset(z for z in obs.zones if z != MALL and self.zones.is_unit(z))
        fix = Fix(obs.ts, obs.lon, obs.lat, obs.level, units)
        return gone + self.occupancy.observe(occupancy, fix)

    def _still_in(
        self, zone_id: int, stay: ZoneStay, obs: Observation, events: list[Transition]
    ) -> None:
        stay.last_inside_at = obs.ts
        dwell_s = self.zones.zone_dwell_s(zone_id)
        if not stay.dwelled and dwell_s > 0 and obs.ts - stay.entered_at >= dwell_s:
            stay.dwelled = True
            events.append(Transition("dwell", zone_id, obs.ts, obs.ts - stay.entered_at, obs.level))

    def _leaves(self, zone_id: int, obs: Observation) -> bool:
        if zone_id in obs.zones:
            return False
        if not self.zones.knows(zone_id):
            return True
        zone_level = self.zones.zone_level(zone_id)
        if zone_level is not None:
            if obs.level is None:
                return False  # a ping that does not know its floor cannot judge a floor's zone
            if obs.level != zone_level:
                return True
        return self.zones.distance_m(zone_id, obs.lon, obs.lat) > self.rules.exit_margin_m

    def _exit_reason(self, zone_id: int, obs: Observation) -> str:
        if not self.zones.knows(zone_id):
            return "zone_removed"
        zone_level = self.zones.zone_level(zone_id)
        if zone_level is not None and obs.level is not None and obs.level != zone_level:
            return "level_change"
        return "left"

    def _implausible(self, state: PresenceState, obs: Observation) -> bool:
        if state.last_lon is None or state.last_lat is None or state.last_ts is None:
            return False
        travelled = self.zones.travel_m(state.last_lon, state.last_lat, obs.lon, obs.lat)
        # Noise of both fixes does not count as travel.
        moved = max(0.0, travelled - state.last_accuracy_m - obs.accuracy_m)
        return moved / (obs.ts - state.last_ts) > self.rules.max_speed_mps

    def _exit_all(
        self, state: PresenceState, events: list[Transition], *, at: float, reason: str
    ) -> None:
        for zone_id in sorted(state.stays, key=lambda z: (z == MALL, z)):
            stay = state.stays[zone_id]
            events.append(
                Transition(
                    "exit", zone_id, at, stay.last_inside_at - stay.entered_at, state.level, reason
                )
            )
        state.stays.clear()
        state.occupancy = Occupancy()
        state.floor_run = None


def _copy(state: PresenceState) -> PresenceState:
    occupancy = state.occupancy
    return replace(
        state,
        floor_run=replace(state.floor_run) if state.floor_run else None,
        stays={k: replace(v) for k, v in state.stays.items()},
        occupancy=replace(
            occupancy,
            window=list(occupancy.window),
            stop=replace(occupancy.stop) if occupancy.stop else None,
        ),
    )

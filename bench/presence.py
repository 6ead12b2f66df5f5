"""Presence under indoor positioning noise: do enter events name the store the shopper is in,
and does their confidence say how often they do?

On the real mall (the ILC plan, all five floors), simulated shoppers walk from a corridor in at
a unit's door to a random spot at least a metre from its walls, stand there or browse (move
slowly from spot to spot) for 1-10 minutes and walk out (visits); walk along the corridors past
the storefronts (passers-by); look in from the corridor for 1-3 minutes (window shoppers); or
walk into one unit up to the wall it shares with its neighbour, straight out and into the
neighbour by its door (crossings). Their phones report fixes with the errors of one of the
noise models of demo/noise.py:

    _s2, _s4      white noise of sigma 2 or 4 m, 2% outliers, fixes every 2-10 s
    _ou30, _ou120 correlated noise of sigma 2 m: an offset per walk (a quarter of the variance)
                  and an Ornstein-Uhlenbeck error of correlation time 30 or 120 s while the
                  shopper stands (6 s while walking), outlier episodes of 2-8 s
    _sparse30     _ou30 from a backgrounded app: a fix every 27-33 s, visits of 3-10 minutes
    _wifi         real Wi-Fi fingerprinting errors of this mall replayed (median 5 m)

and every synthetic model has wrong-floor runs (0.5 a minute, a median of ~5 s, some 20-50 s,
mostly one floor off). The pings go through geofence/presence.py exactly as ingest applies
them; the figures say how often enter events name the right unit, how soon, how often another,
and whether the confidence they report is the share of them that is right (a reliability table
and the expected calibration error). Beside them, on _s2, the per-ping rule of before (the
baseline) and the enter delay of an ideal judge (it knows when the shopper stopped, the
outliers and sigma).

    .venv/bin/python bench/presence.py [--quick] [--json] [--models s2,ou30] [--confidence C]

docs/benchmarks.md has the noise models, the definitions and the figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from shapely import Point

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import arguments
from bench.mall import (
    SIZE_GROUPS,
    Unit,
    Walk,
    World,
    build_world,
    crossing,
    neighbours,
    passer_by,
    visit,
    window_shopper,
)
from demo.noise import Noise, NoiseModel, ReplayNoise, load_traces
from geofence.presence import (
    Observation,
    PresenceRules,
    PresenceState,
    PresenceTracker,
    Transition,
)
from geofence.stop import ou_mean_share

SLACK_S = 30.0  # an enter this close to the visit still names the right visit
CONFIDENCE_BINS = (0.5, 0.8, 0.9, 0.95, 0.99, 1.0)


def noise_models() -> dict[str, Noise]:
    return {
        "s2": NoiseModel(2.0, floor_runs_per_min=0.5),
        "ou30": NoiseModel.correlated(30.0),
        "ou120": NoiseModel.correlated(120.0),
        "s4": NoiseModel(4.0, floor_runs_per_min=0.5),
        "sparse30": replace(NoiseModel.correlated(30.0), every_s=(27.0, 33.0)),
        "wifi": ReplayNoise(load_traces()),
    }


VISIT_S = {"sparse30": (180.0, 600.0)}  # a backgrounded app: visits of 3 minutes or more


# -- fixes and the rule under test ---------------------------------------------------------------


def fixes(world: World, walk: Walk, noise: Noise, rng: random.Random) -> list[Observation]:
    """What the phone reports along `walk`, with the errors of `noise` (one track per walk)."""
    frame = world.index.frame
    kx, ky = frame.metres_per_degree
    levels = world.levels
    track = noise.track(rng)
    picked: list[tuple[float, float, float, float, int]] = []
    offset = rng.uniform(0, min(5.0, noise.every_s[1]))
    while offset < len(walk.xy) - 1:
        second = int(offset)
        x, y = walk.xy[second]
        dx, dy, off = track.error(walk.t0 + offset, walk.moving[second])
        level = walk.level + off
        if level not in levels:  # off the building: the other way
            level = walk.level - off if walk.level - off in levels else walk.level
        picked.append(
            (
                walk.t0 + offset,
                frame.lon0 + (x + dx) / kx,
                frame.lat0 + (y + dy) / ky,
                noise.accuracy(rng),
                level,
            )
        )
        offset += noise.gap(rng)
    where = world.index.locate(
        np.array([p[1] for p in picked]), np.array([p[2] for p in picked]), [p[4] for p in picked]
    )
    return [
        Observation(t, x, y, accuracy, level, zones)
        for (t, x, y, accuracy, level), zones in zip(picked, where, strict=True)
    ]


Rule = Callable[[Sequence[Observation]], list[Transition]]


def single_ping_rule(world: World) -> Rule:
    """The per-ping rule for every zone (what presence did before issue 13): the baseline."""
    tracker = PresenceTracker(PresenceRules(), world.per_ping)

    def run(observations: Sequence[Observation]) -> list[Transition]:
        return tracker.advance(PresenceState(), observations).events

    return run


def occupancy_rule(
    world: World, confidence: float | None = None, changes: dict[str, float] | None = None
) -> Rule:
    """Presence as shipped (geofence/presence.py): units by occupancy inference over a stop;
    `confidence`: MALLCAST_ENTER_CONFIDENCE, if not the default; `changes`: other occupancy
    rules (to explore them)."""
    rules = PresenceRules()
    occupancy = replace(rules.occupancy, **(changes or {}))  # type: ignore[arg-type]
    if confidence is not None:
        occupancy = replace(occupancy, enter_confidence=confidence)
    rules = replace(rules, occupancy=occupancy)
    tracker = PresenceTracker(rules, world.index)

    def run(observations: Sequence[Observation]) -> list[Transition]:
        return tracker.advance(PresenceState(), observations).events

    return run


# -- the figures ---------------------------------------------------------------------------------


@dataclass
class Tally:
    enters: int = 0
    right: int = 0
    visits: int = 0
    entered: int = 0
    flapping: int = 0
    enter_delays: list[float] = field(default_factory=list)
    stop_delays: list[float] = field(default_factory=list)  # the same enters, from the stop
    exit_delays: list[float] = field(default_factory=list)


@dataclass
class Judged:
    """Every unit enter of a run: the confidence it reported, and whether it was right."""

    pairs: list[tuple[float, bool]] = field(default_factory=list)

    def add(
        self,
        events: Iterable[Transition],
        rooms: frozenset[int],
        right: Callable[[Transition], bool],
    ) -> None:
        for e in events:
            if e.kind == "enter" and e.zone_id in rooms and e.confidence is not None:
                self.pairs.append((e.confidence, right(e)))

    def reliability(self) -> list[tuple[float, float, int, float, float]]:
        """(low, high, enters, mean confidence, share right) per bin of reported confidence."""
        rows = []
        for low, high in itertools.pairwise(CONFIDENCE_BINS):
            inside = [(c, r) for c, r in self.pairs if low <= c < high or (high == 1.0 == c)]
            if inside:
                rows.append(
                    (
                        low,
                        high,
                        len(inside),
                        sum(c for c, _ in inside) / len(inside),
                        sum(r for _, r in inside) / len(inside),
                    )
                )
        return rows

    def ece(self) -> float:
        """The expected calibration error: |share right - confidence|, weighted by enters."""
        total = len(self.pairs)
        if not total:
            return float("nan")
        gap = sum(n * abs(right - conf) for _, _, n, conf, right in self.reliability())
        return round(gap / total, 3)


def visit_right(walk: Walk) -> Callable[[Transition], bool]:
    arrived, left, zone_id = walk.inside[0]
    return lambda e: e.zone_id == zone_id and arrived - SLACK_S <= e.at <= left + SLACK_S


def stayed_right(walk: Walk) -> Callable[[Transition], bool]:
    stayed = {zone for start, end, zone in walk.inside if end - start >= 60}
    return lambda e: e.zone_id in stayed


def score_visit(
    tally: Tally, walk: Walk, events: Iterable[Transition], rooms: frozenset[int]
) -> None:
    (arrived, left, zone_id) = walk.inside[0]
    is_right = visit_right(walk)
    enters = [e for e in events if e.kind == "enter" and e.zone_id in rooms]
    right = [e for e in enters if is_right(e)]
    tally.enters += len(enters)
    tally.right += len(right)
    tally.visits += 1
    tally.entered += bool(right)
    tally.flapping += sum(1 for e in enters if e.zone_id == zone_id) > 1
    if right:
        first = min(e.at for e in right)
        tally.enter_delays.append(max(0.0, first - arrived))
        if walk.stood is not None:
            tally.stop_delays.append(max(0.0, first - walk.stood))
        exits = [
            e.at
            for e in events
            if e.kind == "exit" and e.zone_id == zone_id and e.at >= left - SLACK_S
        ]
        if exits:
            tally.exit_delays.append(max(0.0, min(exits) - left))


def wrong_enters(walk: Walk, events: Iterable[Transition], rooms: frozenset[int]) -> int:
    """Enters of units the shopper did not stay in (a minute at least)."""
    right = stayed_right(walk)
    return sum(1 for e in events if e.kind == "enter" and e.zone_id in rooms and not right(e))


def measure(
    world: World,
    rule: Rule,
    noise: Noise,
    *,
    visits_per_unit: int,
    units: Sequence[Unit],
    pairs: Sequence[tuple[Unit, Unit]],
    seed: int,
    visit_s: tuple[float, float] = (60.0, 600.0),
) -> dict[str, float]:
    rng = random.Random(seed)
    groups = {name: Tally() for name, _, _ in SIZE_GROUPS}
    judged = Judged()
    rooms = world.rooms
    for unit in units:
        for _ in range(visits_per_unit):
            walk = visit(world, unit, rng, t0=1e9, stay_s=visit_s)
            events = rule(fixes(world, walk, noise, rng))
            score_visit(groups[unit.group], walk, events, rooms)
            judged.add(events, rooms, visit_right(walk))
    wrong, hours = 0, 0.0
    others: list[Walk] = [passer_by(world, unit, rng, t0=1e9) for unit in units]
    others += [crossing(world, through, into, rng, t0=1e9) for through, into in pairs]
    for walk in others:
        events = rule(fixes(world, walk, noise, rng))
        wrong += wrong_enters(walk, events, rooms)
        judged.add(events, rooms, stayed_right(walk))
        hours += walk.hours
    figures = _figures(groups, wrong, hours)
    looked_in = 0
    for unit in units:
        walk = window_shopper(world, unit, rng, t0=1e9)
        events = rule(fixes(world, walk, noise, rng))
        looked_in += wrong_enters(walk, events, rooms) > 0
        judged.add(events, rooms, stayed_right(walk))
    figures["window_shopper_enter_share"] = _ratio(looked_in, len(units))
    figures["ece"] = judged.ece()
    figures["judged_enters"] = len(judged.pairs)
    for low, _, n, conf, right in judged.reliability():
        figures[f"reliability_{low:g}_enters"] = n
        figures[f"reliability_{low:g}_confidence"] = round(conf, 3)
        figures[f"reliability_{low:g}_right"] = round(right, 3)
    return figures


def ideal_enter(
    world: World,
    unit: Unit,
    walk: Walk,
    observations: Sequence[Observation],
    noise: NoiseModel,
    confidence: float,
) -> float | None:
    """When an ideal judge would enter the unit: one that knows the moment the shopper stopped,
    which fixes are outliers (10 m or more off) and the noise model itself (σ, how long its
    error lasts, its offset), and enters at the first fix after the stop at which the mean of
    the stop's fixes lies in the unit with probability `confidence`. What any rule that waits
    for the shopper to stop, and says how sure it is honestly, must wait for at least; a visit
    it never enters, no such rule can."""
    assert walk.stood is not None
    frame, shape = world.index.frame, world.metric[unit.zone_id]
    kx, ky = frame.metres_per_degree
    n, sx, sy = 0, 0.0, 0.0
    for obs in observations:
        if obs.ts < walk.stood:
            continue
        x, y = (obs.lon - frame.lon0) * kx, (obs.lat - frame.lat0) * ky
        if math.dist((x, y), walk.xy[int(obs.ts - walk.t0)]) >= 10.0:
            continue  # an outlier
        n, sx, sy = n + 1, sx + x, sy + y
        mean = Point(sx / n, sy / n)
        depth = shape.boundary.distance(mean) * (1 if shape.contains(mean) else -1)
        error_m = _true_error_m(noise, n, obs.ts - walk.stood)
        if 0.5 * (1 + math.erf(depth / (error_m * math.sqrt(2)))) >= confidence:
            return obs.ts
    return None


def _true_error_m(noise: NoiseModel, n: int, span_s: float) -> float:
    """The standard error, per axis, of the mean of `n` fixes over `span_s` of a shopper
    standing still, under `noise` (white: σ/√n; an OU error of correlation time τ averages
    over the span only; the offset not at all)."""
    if noise.tau_s <= 0:
        return noise.sigma_m / math.sqrt(n)
    x = max(span_s, 1e-3) / noise.tau_s
    averaged = ou_mean_share(x)
    share = noise.offset_share
    return noise.sigma_m * math.sqrt(share + (1 - share) * min(1.0, max(averaged, 1.0 / n)))


def measure_ideal(
    world: World, noise: NoiseModel, *, visits_per_unit: int, units: Sequence[Unit], seed: int,
    visit_s: tuple[float, float] = (60.0, 600.0),
) -> dict[str, float]:  # fmt: skip
    """The ideal judge (`ideal_enter`) at 90% (the shipped rule's confidence) and 50% (a coin
    flip) on the same visits and fixes as `measure` with the same seed: its enter delays from
    the door and from the stop, and its recall (the visits it enters at all)."""
    rng = random.Random(seed)
    levels = ("90", "50")
    delays: dict[str, dict[str, list[float]]] = {
        level: {name: [] for name, _, _ in SIZE_GROUPS} for level in levels
    }
    stops: dict[str, dict[str, list[float]]] = {
        level: {name: [] for name, _, _ in SIZE_GROUPS} for level in levels
    }
    visits = {name: 0 for name, _, _ in SIZE_GROUPS}
    for unit in units:
        for _ in range(visits_per_unit):
            walk = visit(world, unit, rng, t0=1e9, stay_s=visit_s)
            observations = fixes(world, walk, noise, rng)
            visits[unit.group] += 1
            for level in levels:
                at = ideal_enter(world, unit, walk, observations, noise, int(level) / 100)
                if at is not None and walk.stood is not None:
                    delays[level][unit.group].append(at - walk.inside[0][0])
                    stops[level][unit.group].append(at - walk.stood)
    out: dict[str, float] = {}
    large = ("25to100", "ge100")
    for level in levels:
        pooled = [d for group in delays[level].values() for d in group]
        out[f"ideal{level}_enter_delay_p50_s"] = _percentile(pooled, 50)
        out[f"ideal{level}_enter_delay_p95_s"] = _percentile(pooled, 95)
        for name, values in delays[level].items():
            out[f"ideal{level}_enter_delay_p95_s_{name}"] = _percentile(values, 95)
        from_stop = [d for name in large for d in stops[level][name]]
        out[f"ideal{level}_stop_enter_delay_p95_s_ge25"] = _percentile(from_stop, 95)
        entered = sum(len(stops[level][name]) for name in large)
        out[f"ideal{level}_recall_ge25"] = _ratio(entered, sum(visits[n] for n in large))
        out[f"ideal{level}_recall_10to25"] = _ratio(len(stops[level]["10to25"]), visits["10to25"])
    return out


def _figures(groups: dict[str, Tally], wrong: int, hours: float) -> dict[str, float]:
    def pooled(names: Sequence[str]) -> Tally:
        total = Tally()
        for name in names:
            g = groups[name]
            total.enters += g.enters
            total.right += g.right
            total.visits += g.visits
            total.entered += g.entered
            total.flapping += g.flapping
            total.enter_delays += g.enter_delays
            total.stop_delays += g.stop_delays
            total.exit_delays += g.exit_delays
        return total

    everything = pooled([name for name, _, _ in SIZE_GROUPS])
    large = pooled(["25to100", "ge100"])
    out = {
        "precision": _ratio(everything.right, everything.enters),
        "recall": _ratio(everything.entered, everything.visits),
        "false_enters_per_shopper_hour": round(wrong / hours, 3) if hours else 0.0,
        "flapping_share": _ratio(everything.flapping, everything.visits),
        "enter_delay_p50_s": _percentile(everything.enter_delays, 50),
        "enter_delay_p95_s": _percentile(everything.enter_delays, 95),
        "exit_delay_p95_s": _percentile(everything.exit_delays, 95),
        "recall_ge25": _ratio(*_entered(large)),
        "stop_enter_delay_p50_s": _percentile(everything.stop_delays, 50),
        "stop_enter_delay_p95_s": _percentile(everything.stop_delays, 95),
        "stop_enter_delay_p50_s_ge25": _percentile(large.stop_delays, 50),
        "stop_enter_delay_p95_s_ge25": _percentile(large.stop_delays, 95),
    }
    for name, _, _ in SIZE_GROUPS:
        g = groups[name]
        out[f"precision_{name}"] = _ratio(g.right, g.enters)
        out[f"recall_{name}"] = _ratio(g.entered, g.visits)
        out[f"visits_{name}"] = g.visits
        out[f"enter_delay_p50_s_{name}"] = _percentile(g.enter_delays, 50)
        out[f"enter_delay_p95_s_{name}"] = _percentile(g.enter_delays, 95)
        out[f"stop_enter_delay_p95_s_{name}"] = _percentile(g.stop_delays, 95)
    return out


def _entered(tally: Tally) -> tuple[int, int]:
    return tally.entered, tally.visits


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else float("nan")


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--confidence",
        type=float,
        default=None,
        help="the shipped rule at this MALLCAST_ENTER_CONFIDENCE (default: as shipped)",
    )
    parser.add_argument(
        "--rules",
        default="",
        help="occupancy rules to change, e.g. offset_share=0.1,correlation_s=30",
    )
    parser.add_argument(
        "--models",
        default=",".join(noise_models()),
        help="noise models to measure, comma-separated (default: all)",
    )


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], _options)
    began = time.perf_counter()
    world = build_world()
    rng = random.Random(7)
    units = world.units if not args.quick else rng.sample(world.units, min(90, len(world.units)))
    pairs = neighbours(world)
    pairs = pairs if not args.quick else rng.sample(pairs, min(40, len(pairs)))
    visits_per_unit = 1 if args.quick else 3
    figures: dict[str, object] = {
        "quick": args.quick,
        "units": len(units),
        "unit_pairs": len(pairs),
        "visits_per_unit": visits_per_unit,
        "enter_confidence": args.confidence or PresenceRules().occupancy.enter_confidence,
    }
    models = noise_models()
    rows: list[tuple[str, dict[str, float]]] = []
    ideals: list[tuple[str, dict[str, float]]] = []
    changes = {k: float(v) for k, v in (c.split("=") for c in args.rules.split(",") if c)}
    figures.update({f"rule_{k}": v for k, v in changes.items()})
    shipped = occupancy_rule(world, args.confidence, changes)
    for name in args.models.split(","):
        seed = list(models).index(name) + 1  # the same walks whichever models run
        noise = models[name]
        runs = [("", shipped)] + ([("baseline_", single_ping_rule(world))] if name == "s2" else [])
        for prefix, rule in runs:
            # The same seed: both rules see the same walks and the same fixes.
            result = measure(
                world,
                rule,
                noise,
                visits_per_unit=visits_per_unit,
                units=units,
                pairs=pairs,
                seed=100 * seed,
                visit_s=VISIT_S.get(name, (60.0, 600.0)),
            )
            rows.append((f"{'per-ping ' if prefix else ''}{name}", result))
            figures.update({f"{prefix}{key}_{name}": value for key, value in result.items()})
        if isinstance(noise, NoiseModel):
            span = VISIT_S.get(name, (60.0, 600.0))
            ideal = measure_ideal(
                world,
                noise,
                visits_per_unit=visits_per_unit,
                units=units,
                seed=100 * seed,
                visit_s=span,
            )
            figures.update({f"{key}_{name}": value for key, value in ideal.items()})
            ideals.append((name, ideal))
    _print(rows, world, units, pairs, visits_per_unit)
    _print_ideal(ideals)
    figures["seconds"] = round(time.perf_counter() - began, 1)
    if args.json:  # NaN (a size group with no visit) as null: JSON has no NaN
        clean = {
            k: None if isinstance(v, float) and math.isnan(v) else v for k, v in figures.items()
        }
        print(json.dumps(clean, sort_keys=True))


def _print(
    rows: list[tuple[str, dict[str, float]]],
    world: World,
    units: Sequence[Unit],
    pairs: Sequence[tuple[Unit, Unit]],
    visits_per_unit: int,
) -> None:
    print(
        f"ILC site 1: {len(world.units)} units with a storefront ({len(units)} walked into, "
        f"{visits_per_unit} visit(s) each), {len(pairs)} crossings, passers-by on every floor"
    )
    print("presence as shipped (occupancy for units), per noise model; the per-ping rule on s2:")
    keys = (
        "precision",
        "recall",
        "recall_ge25",
        "recall_10to25",
        "recall_lt10",
        "false_enters_per_shopper_hour",
        "window_shopper_enter_share",
        "flapping_share",
        "enter_delay_p50_s",
        "enter_delay_p95_s",
        "stop_enter_delay_p50_s_ge25",
        "stop_enter_delay_p95_s_ge25",
        "exit_delay_p95_s",
        "ece",
        "judged_enters",
    )
    print("  " + "figure".ljust(32) + "".join(label.rjust(11) for label, _ in rows))
    for key in keys:
        print("  " + key.ljust(32) + "".join(f"{f.get(key, '-'):>11}" for _, f in rows))
    print("  reliability: enters, mean confidence reported, share right, per bin")
    for low, high in itertools.pairwise(CONFIDENCE_BINS):
        cells = []
        for _, f in rows:
            n = f.get(f"reliability_{low:g}_enters")
            conf, right = (
                f.get(f"reliability_{low:g}_confidence"),
                f.get(f"reliability_{low:g}_right"),
            )
            cells.append(f"{n} {conf} {right}" if n else "-")
        print(f"    [{low:g}, {high:g})".ljust(34) + "".join(c.rjust(22) for c in cells))
    for figure in ("precision", "recall", "stop_enter_delay_p95_s"):
        print("  " + f"{figure} by unit size".ljust(32))
        for name, _, _ in SIZE_GROUPS:
            values = "".join(f"{f[f'{figure}_{name}']:>11}" for _, f in rows)
            print(f"    {name} m2 ({rows[0][1][f'visits_{name}']:.0f} visits)".ljust(34) + values)


def _print_ideal(ideals: list[tuple[str, dict[str, float]]]) -> None:
    print("an ideal judge on the same visits (knows the stop, the outliers and the noise model):")
    labels = [f"{name} {level}%" for name, _ in ideals for level in ("90", "50")]
    print("  " + "figure".ljust(32) + "".join(label.rjust(12) for label in labels))
    by_size = [f"enter_delay_p95_s_{name}" for name, _, _ in SIZE_GROUPS]
    keys = ["recall_ge25", "recall_10to25", "stop_enter_delay_p95_s_ge25", "enter_delay_p50_s",
            "enter_delay_p95_s", *by_size]  # fmt: skip
    for key in keys:
        values = "".join(f"{ideal[f'ideal{level}_{key}']:>12}" for _, ideal in ideals
                         for level in ("90", "50"))  # fmt: skip
        print("  " + key.ljust(32) + values)


if __name__ == "__main__":
    main()

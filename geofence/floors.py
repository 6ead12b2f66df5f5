"""Which floor a shopper is on: a change of floor needs evidence, not one ping. Pure.

Indoor positioning puts runs of fixes on the wrong floor: about half a minute apart, a few
seconds each, now and then near a minute, mostly one floor off (atria and open floors are the
worst). One such fix used to end a visit (`level_change`) and start another. A change begun at
an escalator, lift, stairs or atrium (within `connector_m` of one, on the floor left or the
floor reached) is taken once `fixes` fixes on the new floor span `connector_s`; one begun
anywhere else (the plan may have no such zones, or a lift the plan does not show) once they
span `confirm_s`, longer than wrong-floor runs last. A shopper in a store is not on an
escalator: they have to walk out first, so a change begun in a store takes `confirm_s` too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class FloorRules:
    fixes: int = 2
    connector_s: float = 4.0
    confirm_s: float = 60.0
    connector_m: float = 8.0


@dataclass
class FloorRun:
    """Fixes on a floor other than the confirmed one, not yet enough to change floors."""

    level: int
    since: float
    fixes: int
    at_connector: bool


def floor_evidence(
    run: FloorRun | None,
    level: int,
    ts: float,
    rules: FloorRules,
    *,
    in_unit: bool,
    was_at_connector: Callable[[], bool],
    at_connector: Callable[[], bool],
) -> tuple[FloorRun | None, bool]:
    """A fix at `ts` on `level`, another floor than the confirmed one: the run it adds to (None
    once the change is taken) and whether the shopper is now on `level`. The connector
    questions are asked only when they matter (each is a geometry query)."""
    if run is None or run.level != level:
        run = FloorRun(level, ts, 0, not in_unit and was_at_connector())
    run.fixes += 1
    run.at_connector = not in_unit and (run.at_connector or at_connector())
    needed_s = rules.connector_s if run.at_connector else rules.confirm_s
    if run.fixes >= rules.fixes and ts - run.since >= needed_s:
        return None, True
    return run, False

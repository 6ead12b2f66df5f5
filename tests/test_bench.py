"""The benchmark scripts keep working (their figures are read, never judged, here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # processes of their own: not in the fast lane

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("script", "keys"),
    [
        ("geofence.py", ("engine_matches_per_s", "naive_matches_per_s", "postgis_matches_per_s",
                         "engine_vs_postgis", "ingest_single_per_s", "ingest_batch_pings_per_s",
                         "ingest_p99_ms")),
        ("push.py", ("messages_per_s", "p50_ms", "p99_ms", "naive_messages_per_s")),
        ("e2e.py", ("batched_pings_per_s", "single_requests_per_s", "p99_ms",
                    "naive_pings_per_s")),
        ("presence.py", ("baseline_precision_s2", "baseline_recall_ge25_s2",
                         "baseline_false_enters_per_shopper_hour_s2", "precision_s2",
                         "recall_ge25_s2", "recall_10to25_s2", "stop_enter_delay_p95_s_ge25_s2",
                         "ideal90_enter_delay_p95_s_s2", "ideal50_enter_delay_p95_s_s2",
                         *(f"{figure}_{model}" for model in ("ou30", "ou120") for figure in (
                             "precision", "recall_ge25", "recall_10to25",
                             "stop_enter_delay_p95_s_ge25")),
                         "precision_s4", "recall_ge25_s4", "precision_wifi", "recall_ge25_wifi",
                         "precision_sparse30", "recall_ge25_sparse30")),
        ("purchases.py", ("csv_purchases_per_s", "row_by_row_purchases_per_s",
                          "csv_vs_row_by_row", "members")),
    ],
)  # fmt: skip
def test_bench_script_quick_json(script: str, keys: tuple[str, ...]) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick", "--json"],
        capture_output=True, text=True, timeout=400, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for key in keys:
        # Recall under errors that last may well be 0 on a quick run's few small units.
        assert figures[key] >= 0 if "recall" in key else figures[key] > 0, key
    assert figures["quick"] is True
    if script == "presence.py":  # figures that may well be 0, but must be there
        for model in ("s2", "ou30", "ou120", "s4", "wifi", "sparse30"):
            for figure in ("false_enters_per_shopper_hour", "flapping_share", "ece"):
                assert isinstance(figures[f"{figure}_{model}"], float), (figure, model)
            assert 0 <= figures[f"ece_{model}"] <= 1
        # The same enters timed from the stop, which comes after the door.
        assert figures["stop_enter_delay_p50_s_s2"] <= figures["enter_delay_p50_s_s2"]


def test_the_ideal_judge_enters_once_the_shopper_stands_and_only_when_sure() -> None:
    sys.path.insert(0, str(ROOT))
    import random

    from bench.mall import build_world, visit
    from bench.presence import fixes, ideal_enter
    from demo.noise import NoiseModel

    world = build_world()
    unit = max(world.units, key=lambda u: u.area_m2)
    rng = random.Random(3)
    walk = visit(world, unit, rng, t0=1e9)
    observations = fixes(world, walk, NoiseModel(0.5), rng)
    assert walk.stood is not None
    at = ideal_enter(world, unit, walk, observations, NoiseModel(0.5), 0.9)
    # Deep inside the largest unit, with little noise: the first fix after the stop decides.
    first = min(o.ts for o in observations if o.ts >= walk.stood)
    assert at is not None
    assert walk.stood <= at <= first + 20
    # The same fixes, said to be off by a kilometre: never sure, never before the stop.
    assert ideal_enter(world, unit, walk, observations, NoiseModel(1000.0), 0.9) is None
    late = ideal_enter(world, unit, walk, observations, NoiseModel(1000.0), 0.5)
    assert late is not None
    assert late >= walk.stood


@pytest.mark.parametrize("hour", range(24))
def test_the_end_to_end_mall_is_in_its_evening_whatever_the_hour_here(hour: int) -> None:
    sys.path.insert(0, str(ROOT))
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bench.e2e import evening_zone

    now = datetime(2026, 12, 5, hour, 37, tzinfo=UTC)
    assert now.astimezone(ZoneInfo(evening_zone(now.timestamp()))).hour == 18

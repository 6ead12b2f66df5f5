"""The simulator as a load generator: shoppers walking the demo mall, sent to any mallcast.

The target must hold the demo mall (`mallcast serve --demo`): pings carry its coordinates.
The rate is reached by running the simulated clock as fast as needed: each shopper pings every
`ping_every_s` simulated seconds, so N shoppers at R pings/s run the clock at R x 5 / N.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from demo.http import LeanClient
from demo.run import evening_start
from demo.simulator import Simulation


@dataclass(frozen=True)
class LoadReport:
    pings: int  # accepted by the server
    requests: int
    errors: int  # requests answered with anything but 200
    rejected: int  # pings refused one by one (a 200 with rejections)
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def pings_per_s(self) -> float:
        return self.pings / self.seconds if self.seconds else 0.0


def generate_load(
    url: str,
    *,
    shoppers: int,
    rate: float,
    seconds: float,
    timeout_s: float = 30,
    connections: int = 16,
) -> LoadReport:
    return asyncio.run(
        _generate(
            url,
            shoppers=shoppers,
            rate=rate,
            seconds=seconds,
            timeout_s=timeout_s,
            connections=connections,
        )
    )


async def _generate(
    url: str, *, shoppers: int, rate: float, seconds: float, timeout_s: float, connections: int
) -> LoadReport:
    ping_every_s = 5.0
    speedup = max(1.0, rate * ping_every_s / shoppers)
    start = evening_start(seconds * speedup / 60, time.time())
    sim = Simulation(shoppers, start=start, ping_every_s=ping_every_s, returning=True)
    latencies: list[float] = []
    pings = requests = errors = rejected = 0
    async with LeanClient(url, connections=connections, timeout_s=timeout_s) as client:
        headers = await asyncio.gather(*(_register(client, i) for i in range(shoppers)))

        async def send(index: int, batch: list[dict[str, object]]) -> None:
            nonlocal pings, requests, errors, rejected
            sent = time.perf_counter()
            answer = await client.post("/v1/pings", {"pings": batch}, headers[index])
            latencies.append(time.perf_counter() - sent)
            requests += 1
            if answer.status == 200:
                body = answer.json()
                pings += body["accepted"] + body["duplicates"]
                rejected += body["rejected"]
            else:
                errors += 1

        began = time.monotonic()
        while (elapsed := time.monotonic() - began) < seconds and sim.active:
            batches: dict[int, list[dict[str, object]]] = {}
            for index, ping in sim.advance(start + elapsed * speedup):
                batches.setdefault(index, []).append(ping)
            # One request per shopper per tick: a shopper's pings stay in order.
            await asyncio.gather(*(send(i, batch) for i, batch in batches.items()))
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - began
    values = np.array(latencies or [0.0]) * 1000
    return LoadReport(
        pings,
        requests,
        errors,
        rejected,
        elapsed,
        float(np.percentile(values, 50)),
        float(np.percentile(values, 99)),
    )


async def _register(client: LeanClient, i: int) -> dict[str, str]:
    answer = await client.post(
        "/v1/devices",
        {
            "platform": "android",
            "fcm_token": f"load-{i}-{time.time_ns()}",
            "consents": {"location": True, "marketing_push": True},
        },
    )
    if answer.status != 201:
        raise RuntimeError(f"registering a simulated device failed: {answer.status}")
    return {"Authorization": f"Bearer {answer.json()['token']}"}

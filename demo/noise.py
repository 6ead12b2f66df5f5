"""Indoor positioning noise, as the demo's shoppers and bench/presence.py both apply it. Pure.

Every fix is off by Gaussian noise of `sigma_m` per axis (Wi-Fi RTT and BLE positioning: about
2 m; a deployed BLE and geomagnetic system in 35 malls reports a median error of 2.4 m); a share
`outlier_share` of fixes are outliers, 10-20 m away in any direction; the accuracy a phone
reports (3-8 m) says little about the error of the fix it comes with; fixes come every 2-10 s.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class NoiseModel:
    sigma_m: float = 2.0
    outlier_share: float = 0.02
    outlier_m: tuple[float, float] = (10.0, 20.0)
    accuracy_m: tuple[float, float] = (3.0, 8.0)
    every_s: tuple[float, float] = (2.0, 10.0)

    def offset(self, rng: random.Random) -> tuple[float, float]:
        """Metres east and north between a fix and where the phone really is."""
        if rng.random() < self.outlier_share:
            angle, distance = rng.uniform(0, 2 * math.pi), rng.uniform(*self.outlier_m)
            return distance * math.cos(angle), distance * math.sin(angle)
        return rng.gauss(0, self.sigma_m), rng.gauss(0, self.sigma_m)

    def accuracy(self, rng: random.Random) -> float:
        return rng.uniform(*self.accuracy_m)

    def gap(self, rng: random.Random) -> float:
        """Seconds until the next fix."""
        return rng.uniform(*self.every_s)

    def every(self, mean_s: float) -> NoiseModel:
        """The same noise, fixes every 0.4-2 times `mean_s` / 1.2 (2-10 s for 6 s)."""
        low, high = 0.4 * mean_s / 1.2, 2.0 * mean_s / 1.2
        return NoiseModel(self.sigma_m, self.outlier_share, self.outlier_m, self.accuracy_m,
                          (low, high))  # fmt: skip

"""When people (and machines) send requests: diurnal cycles in local time, weekdays, bursts."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from guardgate.simulate.config import DAY, HOUR

# Relative activity per local hour (0..23).
PERSONAL_HOURS = (
    0.35, 0.2, 0.1, 0.06, 0.05, 0.06, 0.15, 0.35, 0.6, 0.8, 0.95, 1.0,
    0.95, 0.9, 0.95, 1.0, 0.95, 0.85, 0.85, 0.95, 1.0, 0.95, 0.8, 0.55,
)  # fmt: skip
WORK_HOURS = (
    0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.2, 0.6, 0.95, 1.0, 1.0,
    0.7, 0.85, 1.0, 1.0, 0.9, 0.65, 0.35, 0.2, 0.15, 0.12, 0.08, 0.04,
)  # fmt: skip
FLAT_HOURS = (1.0,) * 24

# Common UTC offsets of users, weighted roughly by API usage.
TIMEZONES = (-8.0, -7.0, -6.0, -5.0, -3.0, 0.0, 1.0, 2.0, 3.0, 5.5, 8.0, 9.0, 10.0)
TIMEZONE_WEIGHTS = (14, 4, 6, 14, 3, 7, 14, 5, 2, 8, 9, 4, 2)


def random_timezone(rng: random.Random) -> float:
    """A UTC offset in hours, drawn from where API users are."""
    return rng.choices(TIMEZONES, TIMEZONE_WEIGHTS)[0]


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson-distributed count with mean `lam`."""
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def is_weekend(utc_ts: float, tz_hours: float) -> bool:
    """Whether local time at `utc_ts` falls on a Saturday or Sunday."""
    local_day = math.floor((utc_ts + tz_hours * HOUR) / DAY)
    return (local_day + 3) % 7 >= 5  # 1970-01-01 was a Thursday


def local_days(start: float, end: float, tz_hours: float) -> list[tuple[float, bool]]:
    """(UTC timestamp of local midnight, is weekend) for each local day overlapping the span."""
    offset = tz_hours * HOUR
    first = math.floor((start + offset) / DAY)
    last = math.floor((end + offset - 1e-9) / DAY)
    return [(d * DAY - offset, (d + 3) % 7 >= 5) for d in range(first, last + 1)]


def sample_hour(rng: random.Random, hours: Sequence[float]) -> float:
    """An offset in seconds into a local day, following the hourly weights."""
    hour = rng.choices(range(24), hours)[0]
    return (hour + rng.random()) * HOUR


def daily_times(
    rng: random.Random,
    start: float,
    end: float,
    tz_hours: float,
    per_day: float,
    hours: Sequence[float],
    weekend_factor: float = 1.0,
    day_jitter: float = 0.5,
) -> list[float]:
    """Event times over the span: a Poisson count per local day spread by the hourly profile.

    `day_jitter` makes some days busier than others (a lognormal factor per day), as people's
    days are.
    """
    times: list[float] = []
    for midnight, weekend in local_days(start, end, tz_hours):
        mean = per_day * (weekend_factor if weekend else 1.0)
        if day_jitter:
            mean *= rng.lognormvariate(-day_jitter * day_jitter / 2, day_jitter)
        for _ in range(poisson(rng, mean)):
            t = midnight + sample_hour(rng, hours)
            if start <= t < end:
                times.append(t)
    times.sort()
    return times


def think_time(rng: random.Random, median: float = 45.0, sigma: float = 0.8) -> float:
    """Seconds a person takes between reading an answer and sending the next message."""
    return median * rng.lognormvariate(0.0, sigma)


def model_latency(rng: random.Random, output_tokens: int, reasoning: bool = False) -> float:
    """Seconds until a response completes: time to first token plus decoding."""
    ttft = rng.uniform(0.3, 1.5) + (rng.uniform(2.0, 20.0) if reasoning else 0.0)
    return ttft + output_tokens / rng.uniform(40.0, 110.0)


def poisson_process(rng: random.Random, start: float, end: float, rate_per_s: float) -> list[float]:
    """A homogeneous Poisson process over [start, end)."""
    times: list[float] = []
    if rate_per_s <= 0:
        return times
    t = start + rng.expovariate(rate_per_s)
    while t < end:
        times.append(t)
        t += rng.expovariate(rate_per_s)
    return times


class WorkerPool:
    """A client's `size` concurrent workers, each waiting for its previous answer before it
    takes the next item (a benchmark harness, a batch job)."""

    def __init__(self, rng: random.Random, start: float, size: int) -> None:
        """Workers that start within two seconds of `start`."""
        self._free_at = [start + rng.uniform(0, 2) for _ in range(size)]
        self._taken = 0

    def take(self) -> float:
        """When the worker free first (the lowest-numbered on a tie) sends the next item."""
        self._taken = min(range(len(self._free_at)), key=self._free_at.__getitem__)
        return self._free_at[self._taken]

    def busy_for(self, seconds: float) -> None:
        """The worker last taken waits `seconds` for its answer."""
        self._free_at[self._taken] += seconds

    def finished(self) -> float:
        """When the last worker is free."""
        return max(self._free_at)

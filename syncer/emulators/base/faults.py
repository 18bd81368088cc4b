"""Fault injection: what fraction of requests fail and how (:class:`FaultConfig`), and the seeded,
counting draw of those faults (:class:`FaultInjector`)."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal["429", "500", "drop_before", "drop_after", "timeout_before", "timeout_after",
                    "slow_queue"]
FAULT_KINDS: tuple[FaultKind, ...] = ("429", "500", "drop_before", "drop_after", "timeout_before",
                                      "timeout_after", "slow_queue")
_INT_SETTINGS = ("latency_ms", "stall_ms", "slow_queue_ms")


@dataclass(frozen=True)
class FaultConfig:
    """What fraction of requests fail, and how.

    For each faultable request one number is drawn from a RNG seeded with ``seed``: below
    ``rate_429`` the reply is 429 (``Retry-After: 0``), below ``rate_429 + rate_500`` it is 500,
    below ``... + rate_drop`` the connection is closed with no response, below
    ``... + rate_timeout`` the answer is stalled for ``stall_ms`` (longer than the client's
    timeout, so the client sees a read timeout). A dropped or stalled request is handled (its
    effect lands) with probability ``drop_after_apply``: that is the outcome-unknown case a
    driver must settle before re-sending. ``latency_ms`` delays every faultable request.

    Queued work (a Hexabase queued import, a Zilliz import job) is drawn from a second RNG when
    it starts: with probability ``rate_slow_queue`` it stays pending for an extra wait drawn
    uniformly between a quarter of and the whole of ``slow_queue_ms`` (and holds up the work
    queued behind it, as a slow queue does).
    """

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_drop: float = 0.0
    latency_ms: int = 0
    seed: int | None = None
    drop_after_apply: float = 0.5
    rate_timeout: float = 0.0
    stall_ms: int = 2000
    rate_slow_queue: float = 0.0
    slow_queue_ms: int = 1000

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_500", "rate_drop", "drop_after_apply", "rate_timeout",
                     "rate_slow_queue"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.rate_429 + self.rate_500 + self.rate_drop + self.rate_timeout > 1.0:
            raise ValueError("rate_429 + rate_500 + rate_drop + rate_timeout must not exceed 1")
        for name in _INT_SETTINGS:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Build a config from JSON-like data; unknown keys and wrong types are ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        for name, value in data.items():
            if isinstance(value, bool):
                raise ValueError(f"{name} must be a number")
            if name == "seed":
                if value is not None and not isinstance(value, int):
                    raise ValueError("seed must be an integer or null")
            elif name in _INT_SETTINGS:
                if not isinstance(value, int):
                    raise ValueError(f"{name} must be an integer")
            elif not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number")
        return cls(**data)


class FaultInjector:
    """Draws faults from a seeded RNG and counts requests and injected faults (thread-safe)."""

    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._rng = random.Random(config.seed)
        self._queue_rng = random.Random(_queue_seed(config.seed))
        self._requests = 0
        self._faults: dict[FaultKind, int] = dict.fromkeys(FAULT_KINDS, 0)

    @property
    def config(self) -> FaultConfig:
        """The configuration in force."""
        return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration and re-seed, so a run from here on is reproducible."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._queue_rng = random.Random(_queue_seed(config.seed))

    def count_request(self) -> None:
        """Count one request that went through fault injection."""
        with self._lock:
            self._requests += 1

    def draw(self) -> FaultKind | None:
        """Decide the fate of one request and count it when it is a fault."""
        with self._lock:
            config = self._config
            roll = self._rng.random()
            kind: FaultKind | None = None
            if roll < config.rate_429:
                kind = "429"
            elif roll < config.rate_429 + config.rate_500:
                kind = "500"
            elif roll < config.rate_429 + config.rate_500 + config.rate_drop:
                after = self._rng.random() < config.drop_after_apply
                kind = "drop_after" if after else "drop_before"
            elif roll < config.rate_429 + config.rate_500 + config.rate_drop + config.rate_timeout:
                after = self._rng.random() < config.drop_after_apply
                kind = "timeout_after" if after else "timeout_before"
            if kind is not None:
                self._faults[kind] += 1
            return kind

    def queue_delay(self) -> float:
        """Seconds a piece of queued work that starts now waits on top of the usual delay (0
        unless the draw makes it a slow one, which is counted)."""
        with self._lock:
            config = self._config
            if not config.rate_slow_queue or self._queue_rng.random() >= config.rate_slow_queue:
                return 0.0
            self._faults["slow_queue"] += 1
            return self._queue_rng.uniform(0.25, 1.0) * config.slow_queue_ms / 1000

    def stats(self) -> dict[str, Any]:
        """``{"requests": n, "faults": {kind: n}}`` for every kind of :data:`FAULT_KINDS`."""
        with self._lock:
            return {"requests": self._requests, "faults": dict(self._faults)}

    def reset_counts(self) -> None:
        """Zero the counters (the configuration and RNG stay)."""
        with self._lock:
            self._requests = 0
            self._faults = dict.fromkeys(FAULT_KINDS, 0)


def _queue_seed(seed: int | None) -> int | None:
    # a second stream, so slow queues leave the per-request sequence of a seed as it was
    return None if seed is None else seed * 7919 + 1

"""Circuit breaker per listener: stop consuming while a dependency keeps failing.

Outcomes of handler attempts on the listener's messages go into a sliding time window. When
the window holds at least ``minimum_volume`` outcomes and the failure ratio reaches
``failure_ratio``, the breaker opens: the listener is paused (Kafka partitions are paused; the
consumer stays in its group, so nothing is rebalanced). After ``cool_down_seconds`` it turns
half-open: consumption resumes and the next ``probes`` outcomes decide: all successes close
the breaker, a failure opens it again for another cool-down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

logger = logging.getLogger("momentum.circuit")


class CircuitState(Enum):
    """Where a breaker is."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class CircuitBreakerSettings:
    """When a breaker opens and how it recovers.

    Attributes:
        failure_ratio: Failures / outcomes in the window that open the breaker (0 < r <= 1).
        window_seconds: Length of the sliding window.
        minimum_volume: Outcomes needed in the window before the ratio counts.
        cool_down_seconds: How long the breaker stays open before probing.
        probes: Successful outcomes in half-open state needed to close again.
    """

    failure_ratio: float = 0.5
    window_seconds: float = 30.0
    minimum_volume: int = 20
    cool_down_seconds: float = 10.0
    probes: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.failure_ratio <= 1:
            raise ValueError("failure_ratio must be in (0, 1]")
        if self.window_seconds <= 0 or self.cool_down_seconds < 0:
            raise ValueError("window_seconds must be positive, cool_down_seconds not negative")
        if self.minimum_volume < 1 or self.probes < 1:
            raise ValueError("minimum_volume and probes must be at least 1")

    def __str__(self) -> str:
        return (
            f"open at {self.failure_ratio:.0%} failures of at least {self.minimum_volume} "
            f"outcomes in {self.window_seconds:g} s; probe {self.probes} after "
            f"{self.cool_down_seconds:g} s"
        )


StateListener = Callable[[CircuitState, CircuitState, str], None]


class CircuitBreaker:
    """Tracks outcomes and drives ``pause``/``resume`` of one listener."""

    def __init__(
        self,
        name: str,
        settings: CircuitBreakerSettings,
        pause: Callable[[], None],
        resume: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.settings = settings
        self._pause = pause
        self._resume = resume
        self._clock = clock
        self._window: deque[tuple[float, bool]] = deque()
        self._failures = 0
        self._probe_successes = 0
        self._timer: asyncio.TimerHandle | None = None
        self.state = CircuitState.CLOSED
        self.listeners: list[StateListener] = []
        self.transitions: list[tuple[CircuitState, str]] = []

    def record(self, success: bool) -> None:
        """Count one handler attempt's outcome."""
        if self.state is CircuitState.OPEN:
            return  # stragglers already in flight when it opened
        if self.state is CircuitState.HALF_OPEN:
            if not success:
                self._open("a probe failed")
                return
            self._probe_successes += 1
            if self._probe_successes >= self.settings.probes:
                self._change(CircuitState.CLOSED, f"{self._probe_successes} probes succeeded")
                self._reset_window()
            return
        now = self._clock()
        self._window.append((now, success))
        self._failures += not success
        horizon = now - self.settings.window_seconds
        while self._window and self._window[0][0] < horizon:
            _, ok = self._window.popleft()
            self._failures -= not ok
        total = len(self._window)
        if total >= self.settings.minimum_volume:
            ratio = self._failures / total
            if ratio >= self.settings.failure_ratio:
                self._open(f"{self._failures}/{total} failed in the last window ({ratio:.0%})")

    def _open(self, why: str) -> None:
        self._change(CircuitState.OPEN, why)
        self._window.clear()
        self._failures = 0
        self._pause()
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(self.settings.cool_down_seconds, self._half_open)

    def _half_open(self) -> None:
        self._timer = None
        self._probe_successes = 0
        self._change(
            CircuitState.HALF_OPEN, f"cool-down of {self.settings.cool_down_seconds:g} s over"
        )
        self._resume()

    def _reset_window(self) -> None:
        self._window.clear()
        self._failures = 0

    def _change(self, state: CircuitState, why: str) -> None:
        previous, self.state = self.state, state
        self.transitions.append((state, why))
        log = logger.warning if state is CircuitState.OPEN else logger.info
        log("circuit breaker %s: %s -> %s (%s)", self.name, previous.value, state.value, why)
        for listener in self.listeners:
            listener(previous, state, why)

    def close(self) -> None:
        """Cancel a pending half-open timer (on stop)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

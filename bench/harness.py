"""The benchmark harness every suite shares.

Candidates of one comparison are timed interleaved (each repeat runs every candidate once,
in a rotating order) in the same process, so a noisy neighbour slows them all alike. A
table reports each candidate's median over the repeats and its ratio to the floor, the
candidate that stands for the least work possible. Only ratios are meant to be compared
across runs; absolute times depend on the machine.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

UNROLL = 20  # statements per loop iteration, so loop overhead is a small share
MIN_SAMPLE_SECONDS = 0.05


@dataclass
class Target:
    """``candidate`` must be at most ``max_ratio`` times ``versus`` (the floor by default)."""

    candidate: str
    max_ratio: float
    versus: str | None = None
    invert: bool = False  # if True: versus must be at least max_ratio times candidate

    def describe(self, floor: str) -> str:
        other = self.versus or floor
        if self.invert:
            return f"{other} ≥ {self.max_ratio:g}× {self.candidate}"
        return f"{self.candidate} ≤ {self.max_ratio:g}× {other}"


@dataclass
class Table:
    title: str
    unit: str
    floor: str
    medians: dict[str, float]
    samples: int
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def ratio(self, name: str, versus: str | None = None) -> float:
        return self.medians[name] / self.medians[versus or self.floor]

    def target_results(self) -> list[tuple[str, float, bool]]:
        results = []
        for target in self.targets:
            if target.invert:
                ratio = self.ratio(target.versus or self.floor, target.candidate)
                ok = ratio >= target.max_ratio
            else:
                ratio = self.ratio(target.candidate, target.versus)
                ok = ratio <= target.max_ratio
            results.append((target.describe(self.floor), ratio, ok))
        return results

    def markdown(self) -> str:
        scale = {"ns": 1e9, "µs": 1e6, "ms": 1e3, "s": 1.0}[self.unit]
        lines = [
            f"### {self.title}",
            "",
            f"Median of {self.samples} interleaved repeats; ratio against the floor, "
            f"**{self.floor}**.",
            "",
            f"| candidate | median ({self.unit}) | ratio to floor |",
            "|---|---:|---:|",
        ]
        for name, median in self.medians.items():
            lines.append(f"| {name} | {median * scale:,.2f} | {self.ratio(name):.2f}× |")
        results = self.target_results()
        if results:
            lines += ["", "| target | measured | met |", "|---|---:|:---:|"]
            lines += [
                f"| {text} | {ratio:.2f}× | {'yes' if ok else '**no**'} |"
                for text, ratio, ok in results
            ]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        parts = [f"{name} {self.ratio(name):.2f}×" for name in self.medians]
        return f"{self.title}: " + ", ".join(parts)


def _interleave(
    names: Sequence[str], measure: Callable[[str], float], repeats: int
) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in [*names[shift:], *names[:shift]]:
            samples[name].append(measure(name))
    return {name: statistics.median(samples[name]) for name in names}


def compare_statements(
    title: str,
    candidates: dict[str, str],
    *,
    namespace: dict[str, Any],
    floor: str,
    repeats: int = 7,
    targets: Sequence[Target] = (),
    notes: Sequence[str] = (),
) -> Table:
    """Time one statement per candidate; reports seconds per execution of the statement."""
    timers = {
        name: timeit.Timer("\n".join([stmt] * UNROLL), globals=namespace)
        for name, stmt in candidates.items()
    }
    numbers: dict[str, int] = {}
    for name, timer in timers.items():
        number = 1
        while timer.timeit(number) < MIN_SAMPLE_SECONDS:
            number *= 2
        numbers[name] = number

    def measure(name: str) -> float:
        return timers[name].timeit(numbers[name]) / (numbers[name] * UNROLL)

    medians = _interleave(list(candidates), measure, repeats)
    return Table(title, "ns", floor, medians, repeats, list(notes), list(targets))


def compare_runs(
    title: str,
    candidates: dict[str, Callable[[], float]],
    *,
    floor: str,
    unit: str = "ms",
    repeats: int = 7,
    targets: Sequence[Target] = (),
    notes: Sequence[str] = (),
) -> Table:
    """Each candidate returns one measurement in seconds (e.g. a whole subprocess run)."""
    medians = _interleave(list(candidates), lambda name: candidates[name](), repeats)
    return Table(title, unit, floor, medians, repeats, list(notes), list(targets))

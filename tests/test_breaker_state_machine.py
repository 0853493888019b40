"""A hypothesis state machine: CircuitBreaker against a small model of its rules."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lambda_perf import CircuitBreaker, CircuitOpenError, CircuitState
from lambda_perf.testing import FakeClock

THRESHOLD = 3
TIMEOUT = 10.0
PROBES = 2


class Down(Exception):
    pass


class Ignored(Exception):
    pass


class Model:
    """The rules, written as plainly as possible. Every transition starts a new
    generation; a call that finishes in a later generation than it began changes nothing."""

    def __init__(self) -> None:
        self.state = "closed"
        self.generation = 0
        self.streak = 0
        self.opened_at = 0.0
        self.probes = 0
        self.probe_admitted_at = 0.0

    def _become(self, state: str, now: float) -> None:
        self.state = state
        self.generation += 1
        self.probes = 0
        self.streak = 0
        if state == "open":
            self.opened_at = now

    def admit(self, now: float) -> tuple[str, int]:
        if self.state == "open" and now - self.opened_at >= TIMEOUT:
            self._become("half_open", now)
        if self.state == "closed":
            return "call", self.generation
        if (
            self.state == "half_open"
            and self.probes >= PROBES
            and now - self.probe_admitted_at >= TIMEOUT  # probe_timeout defaults to timeout
        ):
            self.generation += 1  # probes that never reported back lose their slots
            self.probes = 0
        if self.state == "half_open" and self.probes < PROBES:
            self.probes += 1
            self.probe_admitted_at = now
            return "probe", self.generation
        return "reject", self.generation

    def finish(self, kind: str, generation: int, outcome: str, now: float) -> None:
        if generation != self.generation:
            return
        if kind == "probe":
            if outcome == "ok":
                self._become("closed", now)
            elif outcome == "fail":
                self._become("open", now)
            else:
                self.probes -= 1
        elif outcome == "ok":
            self.streak = 0
        elif outcome == "fail":
            self.streak += 1
            if self.streak >= THRESHOLD:
                self._become("open", now)


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeClock()
        self.breaker = CircuitBreaker(
            THRESHOLD, TIMEOUT, half_open_max_calls=PROBES, ignore=Ignored, clock=self.fake
        )
        self.model = Model()
        self.held: list[tuple[str, int]] = []  # probes entered with `with`, not yet finished
        self.calls = 0

    def _run(self, outcome: str) -> None:
        expected, generation = self.model.admit(self.fake())
        before = self.calls

        def body() -> str:
            self.calls += 1
            if outcome == "fail":
                raise Down()
            if outcome == "ignored":
                raise Ignored()
            return "ok"

        try:
            self.breaker.call(body)
            got = "ok"
        except CircuitOpenError:
            got = "reject"
        except (Down, Ignored):
            got = outcome
        if expected == "reject":
            assert got == "reject"
            assert self.calls == before  # the function was not called
        else:
            assert got == outcome
            self.model.finish(expected, generation, outcome, self.fake())

    @rule()
    def succeed(self) -> None:
        self._run("ok")

    @rule()
    def fail(self) -> None:
        self._run("fail")

    @rule()
    def ignored(self) -> None:
        self._run("ignored")

    @rule(seconds=st.sampled_from([0.5, 3.0, 9.99, 10.0, 25.0]))
    def advance(self, seconds: float) -> None:
        self.fake.advance(seconds)

    @precondition(lambda self: len(self.held) < 4)
    @rule()
    def enter_concurrent_call(self) -> None:
        expected, generation = self.model.admit(self.fake())
        try:
            self.breaker.__enter__()
        except CircuitOpenError:
            assert expected == "reject"
            return
        assert expected != "reject"
        self.held.append((expected, generation))

    @precondition(lambda self: bool(self.held))
    @rule(outcome=st.sampled_from(["ok", "fail", "ignored"]))
    def finish_concurrent_call(self, outcome: str) -> None:
        # `with` permits are a stack per context: finish the most recent one.
        kind, generation = self.held.pop()
        exc = {"ok": None, "fail": Down(), "ignored": Ignored()}[outcome]
        self.breaker.__exit__(type(exc) if exc else None, exc, None)
        self.model.finish(kind, generation, outcome, self.fake())

    @invariant()
    def same_state(self) -> None:
        now = self.fake()
        model = self.model.state
        if model == "open" and now - self.model.opened_at >= TIMEOUT:
            model = "half_open"
        assert self.breaker.state is CircuitState(model)


BreakerMachine.TestCase.settings = settings(max_examples=400, stateful_step_count=50, deadline=None)
test_breaker_matches_its_model = pytest.mark.filterwarnings("error")(BreakerMachine.TestCase)

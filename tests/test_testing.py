"""lambda_perf.testing: helpers for users' own tests."""

from __future__ import annotations

import threading

import pytest

from lambda_perf.testing import FakeClock, no_sleep, sleeps_disabled


def test_fake_clock_moves_only_when_told() -> None:
    fake = FakeClock(start=5.0)
    assert fake() == 5.0
    fake.sleep(1.5)
    fake.advance(0.5)
    assert fake() == 7.0
    assert fake.sleeps == [1.5]
    assert "now=7.0" in repr(fake)
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        fake.sleep(-1)


def test_no_sleep_nests_and_applies_to_every_thread() -> None:
    assert not sleeps_disabled()
    seen: list[bool] = []
    with no_sleep():
        with no_sleep():
            assert sleeps_disabled()
        assert sleeps_disabled()
        thread = threading.Thread(target=lambda: seen.append(sleeps_disabled()))
        thread.start()
        thread.join()
    assert seen == [True]
    assert not sleeps_disabled()

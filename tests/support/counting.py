"""Measure work by counting, not by the clock: how many Python function calls a piece of code makes.

A wall-clock limit in a unit test fails on a busy machine; a call count is the same on every machine and
still catches the failures that matter (quadratic or exponential work on hostile input). Timing figures
belong in ``bench/``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any


@dataclass
class Counted:
    """What a counted call did: its result or the exception it raised, and how many Python function calls
    it made (every call, however deep)."""

    calls: int
    result: Any = None
    error: BaseException | None = None


def count_calls(fn: Callable[..., Any], *args: Any, catch: type[BaseException] = Exception) -> Counted:
    """Run ``fn(*args)`` counting the Python function calls it makes; an exception of type ``catch`` is
    kept in ``Counted.error`` instead of propagating."""
    calls = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        result = fn(*args)
    except catch as e:
        sys.setprofile(previous)
        return Counted(calls, error=e)
    finally:
        sys.setprofile(previous)
    return Counted(calls, result=result)

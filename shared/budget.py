"""Per-step time budget (FACECAST_STAGE_TIME_BUDGET_S).

The runtime runs a stage under `time_budget(seconds)`; long loops in the stage code (detection over a
pyramid, one face after another) call `check_time_budget()`, which raises TimeBudgetExceeded once the
budget is spent, so an image that costs far more than it should frees the worker early instead of
holding it. A thread cannot be interrupted from outside, so these checkpoints are what stops the work;
the runtime also fails the step on its own when the budget (plus a grace) passes without an answer.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar

from shared.errors import FaceCastError

_deadline: ContextVar[tuple[float, float, str] | None] = ContextVar("facecast_time_budget", default=None)


class TimeBudgetExceeded(FaceCastError):
    """Not retryable: the same input would cost the same again."""
    code = "time-budget-exceeded"


def budget_message(stage: str, seconds: float) -> str:
    return (f"the {stage} step ran past its time budget of {seconds:g} s (FACECAST_STAGE_TIME_BUDGET_S); "
            "the input costs more than this deployment allows (a smaller image or fewer faces would fit)")


@contextmanager
def time_budget(seconds: float, stage: str):
    token = _deadline.set((time.monotonic() + seconds, seconds, stage))
    try:
        yield
    finally:
        _deadline.reset(token)


def check_time_budget() -> None:
    """Raise TimeBudgetExceeded when the running step's budget is spent; a no-op outside a budget."""
    current = _deadline.get()
    if current is not None and time.monotonic() > current[0]:
        raise TimeBudgetExceeded(budget_message(current[2], current[1]), budget_s=current[1])

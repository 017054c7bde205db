"""Why a trial failed, in the words its record keeps (keys.FAILURE_REASON): `describe_failure`,
for the two writers of a record (the search's objective, the ranking's runs)."""

from __future__ import annotations

import traceback

from harness.errors import SpecError
from harness.train.device import classify_error
from harness.train.evaluate import free_device_memory
from harness.train.results import NonFiniteLossError


def describe_failure(err: Exception) -> tuple[str, str | None]:
    """Why an evaluation failed, as (reason, traceback or None): a spec that cannot work, a NaN
    loss, out of memory (after freeing what the trial held), or an unforeseen error, whose
    traceback (last 4000 characters) is kept for a bug report. Call it inside the `except`."""
    if isinstance(err, SpecError):
        return f"invalid spec: {err}", None
    if isinstance(err, NonFiniteLossError):
        return f"non-finite loss: {err}", None
    if classify_error(err) == "oom":
        free_device_memory()
        return f"out of memory: {str(err).splitlines()[0]}", None
    return f"{type(err).__name__}: {err}", traceback.format_exc()[-4000:]

"""Fixtures shared by test files: `one_thread` (torch on one thread for a module's tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Torch on one thread for the module, then back: many tiny models on 2 cores run faster so,
    without spin-waiting threads. A module asks for it with pytestmark = usefixtures("one_thread")."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

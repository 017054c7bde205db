"""Fixtures shared by test files, each defined here once:

- `one_thread`: torch on one thread for a module's tests (`pytestmark = usefixtures("one_thread")`).
- `tiny_data`: 256 training and 128 validation images of the embedded glyphs (seed 1), per module.
- `data`: the default dataset with its first 1000 training images, per module.
- `cache`: a decode cache of the test's own (HARNESS_CACHE), its folder; a module that wants it for
  every test says `pytestmark = pytest.mark.usefixtures("cache")`.

The helpers the tests import are in tests/support/.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

if TYPE_CHECKING:  # harness is imported by the fixtures that use it, so that this file stays light
    from harness.data import ImageData


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Torch on one thread for the module, then back: many tiny models on 2 cores run faster so,
    without spin-waiting threads. A module asks for it with pytestmark = usefixtures("one_thread")."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_data() -> ImageData:
    """A small draw of the embedded dataset: real images, few of them (a new copy per module)."""
    from harness.data import ImageData
    from harness.data.sources import glyphs

    tx, ty, vx, vy = glyphs.generate(seed=1, n_train=256, n_val=128)
    return ImageData("tiny", tx, ty, vx, vy, glyphs.CLASS_NAMES)


@pytest.fixture(scope="module")
def data() -> ImageData:
    """A fifth of the default dataset (its first 1000 training images): each epoch well under a
    second on 2 cores."""
    from harness.data import load_dataset

    full = load_dataset("default")
    return dataclasses.replace(full, train_x=full.train_x[:1000], train_y=full.train_y[:1000])


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's own decode cache (HARNESS_CACHE), as a folder that does not exist yet."""
    path = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE", str(path))
    return path


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A temporary PostgreSQL server's URL for the module (tests.support.pgcluster); skipped when
    PostgreSQL is not installed, a failure then under HARNESS_REQUIRE_POSTGRES=1."""
    import os

    from tests.support.pgcluster import pg_bin, temporary_cluster

    if pg_bin() is None:
        if os.environ.get("HARNESS_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL's initdb and pg_ctl were not found, and HARNESS_REQUIRE_POSTGRES=1")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); set HARNESS_REQUIRE_POSTGRES=1 "
                    "to make this a failure")
    with temporary_cluster() as url:
        yield url

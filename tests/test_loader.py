"""The device-resident loader: crops and flips do what they say per image, an epoch visits each
image at most once in full batches, seeds reproduce, streaming gives the same batches as the
resident path, placement honours the memory budget, and training uses the dataset's augmentation."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.nn import functional as F

from harness.data import Augment, ImageData, load_dataset
from harness.data.loader import TrainBatches, place_dataset, random_crop, random_flip
from harness.train.loop import TrainConfig


def numbered_data(n: int = 40, size: int = 6) -> ImageData:
    """Images whose every pixel holds the image's index (so a batch says which images it holds)."""
    x = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, size, size).contiguous()
    y = torch.arange(n) % 4
    return ImageData(name="numbered", train_x=x, train_y=y, val_x=x[:8], val_y=y[:8],
                     classes=("a", "b", "c", "d"))


def test_random_crop_is_a_shifted_window_of_the_padded_image() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(1, 256, (64, 3, 8, 8), dtype=torch.uint8)
    out = random_crop(x, 2, generator)
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = F.pad(x, (2, 2, 2, 2))
    offsets = set()
    for i in range(len(x)):
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if torch.equal(out[i], padded[i, :, dy : dy + 8, dx : dx + 8])]
        assert found, f"image {i} is not a window of its padded self"
        offsets.add(found[0])
    assert len(offsets) > 10  # offsets differ from image to image


def test_random_crop_with_zero_padding_is_the_identity() -> None:
    x = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    assert random_crop(x, 0, torch.Generator()) is x


def test_random_flip_mirrors_about_half_the_images_and_leaves_the_rest() -> None:
    x = torch.randint(0, 256, (400, 1, 4, 4), dtype=torch.uint8)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(out[i], x[i].flip(-1)) and not torch.equal(x[i], x[i].flip(-1)) for i in range(400)]
    kept = [torch.equal(out[i], x[i]) for i in range(400)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 150 < sum(flipped) < 250


def batch_indices(batches: TrainBatches) -> list[list[int]]:
    """The image indices of each batch of one epoch (read back from the normalised pixels)."""
    out = []
    for xb, _ in batches:
        pixel = xb[:, 0, 0, 0]
        out.append(((pixel - batches.normalize.shift.flatten()[0]) / batches.normalize.scale.flatten()[0])
                   .round().long().tolist())
    return out


def test_an_epoch_is_full_batches_of_distinct_images_reshuffled_each_epoch() -> None:
    data = numbered_data(40)
    batches = TrainBatches(data, torch.device("cpu"), batch_size=16, augment=Augment(), seed=3)
    first, second = batch_indices(batches), batch_indices(batches)
    assert len(first) == 2 and all(len(b) == 16 for b in first)  # 40 // 16: the ragged 8 dropped
    seen = [i for b in first for i in b]
    assert len(set(seen)) == 32 and set(seen) <= set(range(40))
    assert first != second
    again = TrainBatches(data, torch.device("cpu"), batch_size=16, augment=Augment(), seed=3)
    assert batch_indices(again) == first


def test_a_dataset_smaller_than_a_batch_is_one_batch_of_everything() -> None:
    batches = TrainBatches(numbered_data(10), torch.device("cpu"), batch_size=128, augment=Augment(), seed=0)
    assert len(batches) == 1 and sorted(batch_indices(batches)[0]) == list(range(10))


def test_labels_travel_with_their_images() -> None:
    data = numbered_data(40)
    batches = TrainBatches(data, torch.device("cpu"), batch_size=8, augment=Augment(2, True), seed=0)
    scale, shift = batches.normalize.scale.flatten()[0], batches.normalize.shift.flatten()[0]
    for xb, yb in batches:
        # A 6x6 image cropped after 2 px of padding keeps its centre pixel: the image's index.
        index = ((xb[:, 0, 3, 3] - shift) / scale).round().long()
        assert yb.tolist() == (index % 4).tolist()


def test_streaming_gives_the_same_batches_as_the_resident_path() -> None:
    data = numbered_data(48)
    resident = TrainBatches(data, torch.device("cpu"), 16, Augment(1, True), seed=5)
    streamed = TrainBatches(data, torch.device("cpu"), 16, Augment(1, True), seed=5, stream=True, workers=2)
    assert not streamed.resident
    for (xa, ya), (xb, yb) in zip(resident, streamed, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_placement_honours_a_memory_budget() -> None:
    data = numbered_data(40)
    _, roomy = place_dataset(data, "cpu")
    _, tight = place_dataset(data, "cpu", memory_budget=data.nbytes - 1)
    assert roomy.resident and not tight.resident
    assert "streamed" in tight.describe()


def test_normalised_training_batches_have_zero_mean_and_unit_std() -> None:
    data = load_dataset("default")
    batches = TrainBatches(data, torch.device("cpu"), 1000, Augment(), seed=0)
    xb, _ = next(iter(batches))
    assert xb.dtype == torch.float32
    assert xb.mean(dim=(0, 2, 3)).abs().max() < 0.1
    assert (xb.std(dim=(0, 2, 3)) - 1).abs().max() < 0.1


def test_config_overrides_the_datasets_augmentation() -> None:
    data = dataclasses.replace(numbered_data(), augment=Augment(crop_padding=4, flip=True))
    assert TrainConfig().augment_for(data) == Augment(4, True)
    assert TrainConfig(crop_padding=0, flip=False).augment_for(data) == Augment(0, False)


def test_augment_fields_are_checked() -> None:
    from harness.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="crop_padding"):
        TrainConfig(crop_padding=-1)

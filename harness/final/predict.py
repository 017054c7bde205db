"""Class predictions for image files from a model folder: files in, one Prediction per image out.

    predict(folder, inputs, top)
      image_files(inputs)           each input a file, or a folder walked recursively (sorted,
                                    image extensions only, hidden entries skipped)
      decode_image(size, grey)      each read exactly as the folder datasets read training images
      TrainedModel.normalize        the training normalisation
      model, BATCH at a time        softmax probabilities, the `top` most probable classes kept

Mistakes are one HarnessError line naming the path: a missing input, a folder without images, a
file PIL cannot read, a model whose input the folder reader cannot make (not square, not 1 or 3
channels).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from harness.data.sources.image_folder import decode_image, image_extensions
from harness.data.sources.tree import Walked, walk_images
from harness.errors import HarnessError
from harness.final.model_folder import TrainedModel, load_model

BATCH = 256  # images per forward pass: bounded memory, most of the speed of larger batches
_THREADS = min(8, os.cpu_count() or 1)  # PIL releases the GIL while decoding and resizing


@dataclass(frozen=True)
class Prediction:
    """The most probable class of one image (its index in the model's classes, its name and
    probability) and the `top` most probable (name, probability) pairs, best first."""

    path: Path
    index: int
    label: str
    probability: float
    top: tuple[tuple[str, float], ...]


def predict(folder: str | Path, inputs: Sequence[str | Path], top: int = 1) -> list[Prediction]:
    """The predictions of the model in `folder` for the images in `inputs` (files, or folders
    walked recursively), in the order given (each folder's images sorted by path)."""
    if top < 1:
        raise HarnessError(f"top must be at least 1, not {top}")
    trained = load_model(folder)
    size, grey = input_format(trained)
    files = image_files(inputs)
    top = min(top, trained.info.num_classes)
    out: list[Prediction] = []
    with ThreadPoolExecutor(_THREADS) as pool, torch.inference_mode():
        for start in range(0, len(files), BATCH):
            batch = files[start: start + BATCH]
            x = torch.stack([_read(path, pixels) for path, pixels in
                             zip(batch, pool.map(lambda p: decode_image(p, size, grey), batch), strict=True)])
            probs = torch.softmax(trained.model(trained.normalize(x)), dim=1)
            values, indices = probs.topk(top, dim=1)
            for path, vs, ix in zip(batch, values.tolist(), indices.tolist(), strict=True):
                ranked = tuple((trained.info.classes[i], v) for i, v in zip(ix, vs, strict=True))
                out.append(Prediction(path, ix[0], ranked[0][0], vs[0], ranked))
    return out


def input_format(trained: TrainedModel) -> tuple[int, bool]:
    """(size, grey) for decode_image: the folder reader makes square images of 1 or 3 channels."""
    info = trained.info
    h, w = info.input_size
    if h != w:
        raise HarnessError(f"{trained.folder}: the model takes {h}x{w} images, but images are read as the folder "
                           "datasets read them, square; predict cannot feed this model")
    if info.in_channels not in (1, 3):
        raise HarnessError(f"{trained.folder}: the model takes {info.in_channels}-channel images; image files "
                           "are read as grey (1) or RGB (3)")
    return h, info.in_channels == 1


def image_files(inputs: Sequence[str | Path]) -> list[Path]:
    """Every input file as given, and the image files under every input folder (sorted)."""
    if not inputs:
        raise HarnessError("no images given: name image files or folders of them")
    files: list[Path] = []
    for given in map(Path, inputs):
        if given.is_dir():
            found = sorted(_walk(given))
            if not found:
                raise HarnessError(f"{given}: no image files in this folder or below "
                                   f"({'/'.join(image_extensions())})")
            files += found
        elif given.is_file():
            files.append(given)
        else:
            raise HarnessError(f"{given}: no such file or folder")
    return files


def _walk(root: Path) -> Iterator[Path]:
    """The image files under `root`, as the folder datasets list them (harness.data.sources.tree): any
    depth, links followed but each real folder once (a loop ends), hidden files and folders skipped,
    torchvision's image extensions (any case), regular files only (a pipe would never end)."""
    for path, _ in walk_images(root, Walked()):
        yield path


def _read(path: Path, pixels: np.ndarray | None) -> torch.Tensor:
    """decode_image's (size, size, C) array as a (C, size, size) uint8 tensor; None is a file PIL cannot read."""
    if pixels is None:
        raise HarnessError(f"{path}: not an image (PIL cannot read it)")
    return torch.from_numpy(pixels).permute(2, 0, 1)

"""Relative-direction images: a red and a blue mark on a noisy background; the class is the direction
from the red mark to the blue one, in ten 36-degree sectors.

Why this needs spatial context: every image holds exactly one red mark, one blue mark and the
same kind of clutter, so any statistic of local features pooled over the image (what a network
with a small receptive field and global average pooling computes) is the same for every class.
The class is only visible to a unit that sees both marks at once, and they lie 10 to 20 pixels
apart in any direction, so receptive field (kernel size, dilation, depth, downsampling) decides
how much of the task a network can solve. Placement is uniform wherever both marks fit, so
absolute position says nothing; marks keep 2 pixels from the border.

Labels are exact: the angle is drawn at least 6 degrees inside its 36-degree sector, more than
the at most ~4 degrees that rounding mark positions to pixels can move it.
"""

from __future__ import annotations

import numpy as np
import torch

DIRECTIONS = ("E", "ENE", "NNE", "NNW", "WNW", "W", "WSW", "SSW", "SSE", "ESE")
CLASS_NAMES: tuple[str, ...] = tuple(
    f"{name} ({i * 36} deg)" for i, name in enumerate(DIRECTIONS)
)
SECTOR_DEG = 36.0
MARGIN_DEG = 6.0  # angles keep this far from a sector boundary
MIN_DIST, MAX_DIST = 10.0, 20.0  # pixels between the two marks' centres
MARK = 3  # marks are 3x3 pixel squares
BORDER = 2  # pixels between a mark's centre and the image edge, at least
N_CLUTTER = 4  # 2x2 grey-green blobs per image


def _square_offsets(size: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.arange(size) - size // 2
    dy, dx = np.meshgrid(r, r, indexing="ij")
    return dy.ravel(), dx.ravel()


def _paint(img: np.ndarray, ys: np.ndarray, xs: np.ndarray, colour: np.ndarray, size: int) -> None:
    """Paint a size x size square centred at (ys[i], xs[i]) in colour[i] (N, 3) into img (N, H, W, 3)."""
    dy, dx = _square_offsets(size)
    n, h, w, _ = img.shape
    rows = np.clip(ys[:, None] + dy[None, :], 0, h - 1)
    cols = np.clip(xs[:, None] + dx[None, :], 0, w - 1)
    idx = np.repeat(np.arange(n), dy.size)
    img[idx, rows.ravel(), cols.ravel()] = np.repeat(colour, dy.size, axis=0)


def _draw(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, len(CLASS_NAMES), size=n)
    half = SECTOR_DEG / 2 - MARGIN_DEG
    angle = np.deg2rad(labels * SECTOR_DEG + rng.uniform(-half, half, size=n))
    dist = rng.uniform(MIN_DIST, MAX_DIST, size=n)
    dx = np.rint(dist * np.cos(angle)).astype(int)
    dy = np.rint(-dist * np.sin(angle)).astype(int)  # image rows grow downwards; north is up
    lo, hi = BORDER, size - 1 - BORDER
    # The red mark goes anywhere the blue one, offset by (dy, dx), also fits.
    ax = rng.integers(lo + np.maximum(0, -dx), hi - np.maximum(0, dx) + 1)
    ay = rng.integers(lo + np.maximum(0, -dy), hi - np.maximum(0, dy) + 1)

    # Background: a dim random tint per image plus pixel noise (std 12 of 255).
    base = rng.uniform(30, 110, size=(n, 1, 1, 3))
    img = base + rng.normal(0, 12, size=(n, size, size, 3))
    # Clutter: grey-green 2x2 blobs anywhere (they may overlap the marks, as in real scenes).
    for _ in range(N_CLUTTER):
        g = rng.uniform(90, 200, size=(n, 1))
        colour = np.concatenate([g * 0.7, g, g * 0.7], axis=1)
        _paint(img, rng.integers(0, size, n), rng.integers(0, size, n), colour, 2)
    red = np.stack([rng.uniform(190, 255, n), rng.uniform(0, 70, n), rng.uniform(0, 70, n)], axis=1)
    blue = np.stack([rng.uniform(0, 70, n), rng.uniform(40, 120, n), rng.uniform(190, 255, n)], axis=1)
    _paint(img, ay, ax, red, MARK)
    _paint(img, ay + dy, ax + dx, blue, MARK)
    x = np.clip(np.rint(img), 0, 255).astype(np.uint8).transpose(0, 3, 1, 2)  # NHWC -> NCHW
    return np.ascontiguousarray(x), labels


def generate(
    seed: int = 0, n_train: int = 5000, n_val: int = 1000, image_size: int = 32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (train_x, train_y, val_x, val_y): x uint8 (N, 3, H, W), y int64 (N,); same seed, same bits."""
    if image_size < 2 * (BORDER + 1) + int(MAX_DIST):
        raise ValueError(f"image_size {image_size} is too small for marks {MAX_DIST:.0f} pixels apart")
    # Separate streams for the two splits, so the validation images do not depend on n_train.
    train_rng, val_rng = (np.random.default_rng([seed, split]) for split in (0, 1))
    tx, ty = _draw(train_rng, n_train, image_size)
    vx, vy = _draw(val_rng, n_val, image_size)
    return (torch.from_numpy(tx), torch.from_numpy(ty).long(),
            torch.from_numpy(vx), torch.from_numpy(vy).long())

"""The embedded default dataset, registered as "default": generated on the fly, nothing to download.

The images and the task are defined in `harness.data.glyphs`; this module only names them and
keeps one copy per process, since a study loads the same data for every trial.
"""

from __future__ import annotations

from functools import lru_cache

from harness.data import ImageData, register_dataset

# Fixed sizes, so every study on the default dataset sees the same images and results compare.
N_TRAIN = 5000
N_VAL = 1000
IMAGE_SIZE = 32


@lru_cache(maxsize=4)
def _generate(seed: int) -> ImageData:
    from harness.data import glyphs  # imported on first use: generation code is not needed before

    train_x, train_y, val_x, val_y = glyphs.generate(
        seed=seed, n_train=N_TRAIN, n_val=N_VAL, image_size=IMAGE_SIZE
    )
    return ImageData(
        name="default",
        train_x=train_x,
        train_y=train_y,
        val_x=val_x,
        val_y=val_y,
        classes=glyphs.CLASS_NAMES,
    )


@register_dataset(
    "default",
    f"embedded synthetic images ({N_TRAIN} train / {N_VAL} val, 3x{IMAGE_SIZE}x{IMAGE_SIZE}, "
    "10 classes): the class is the direction from a red mark to a blue one 10-20 px away, "
    "so it needs a receptive field that spans both; generated in about a second, no download",
    shape=((3, IMAGE_SIZE, IMAGE_SIZE), 10),
)
def load_default(seed: int = 0) -> ImageData:
    """The embedded dataset; `seed` picks another, equally hard, draw of it (0 is the standard one)."""
    return _generate(seed)

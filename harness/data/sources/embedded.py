"""The embedded default dataset, registered as "default": generated on the fly, nothing to download.

The images and the task are defined in `harness.data.sources.glyphs`; this module only names them and
keeps one copy per process, since a study loads the same data for every trial.
"""

from __future__ import annotations

from functools import lru_cache

from harness.data.image_data import Augment, DataRequest, DatasetSource, RawData, register_dataset

# Fixed sizes, so every study on the default dataset sees the same images and results compare.
N_TRAIN = 5000
N_VAL = 1000
IMAGE_SIZE = 32


@lru_cache(maxsize=1)
def _generate() -> RawData:
    from harness.data.sources import glyphs  # imported on first use: generation code is not needed before

    train_x, train_y, val_x, val_y = glyphs.generate(seed=0, n_train=N_TRAIN, n_val=N_VAL, image_size=IMAGE_SIZE)
    # No augmentation by default: the marks are placed anywhere already, and a flip would turn
    # a "left" sample into a "right" one.
    return RawData(train_x=train_x, train_y=train_y, val_x=val_x, val_y=val_y, classes=glyphs.CLASS_NAMES,
                   source="generated (harness.data.sources.glyphs, seed 0)",
                   augment=Augment(crop_padding=0, flip=False))


def read_default(request: DataRequest) -> RawData:
    """The embedded dataset: the same images on every machine (its own validation split)."""
    return _generate()


register_dataset(DatasetSource(
    name="default",
    description=(f"embedded synthetic images ({N_TRAIN} train / {N_VAL} val, 3x{IMAGE_SIZE}x{IMAGE_SIZE}, "
                 "10 classes): the class is the direction from a red mark to a blue one 10-20 px away, "
                 "so it needs a receptive field that spans both"),
    needs="nothing (generated in about a second)",
    read=read_default,
    shape=((3, IMAGE_SIZE, IMAGE_SIZE), 10),
    path="none",
))

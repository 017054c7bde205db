"""scikit-learn's bundled handwritten digits, registered as "digits": real scans, no download.

1,797 images of 8x8 pixels at 17 grey levels (0..16), 10 classes, from the UCI optical
recognition of handwritten digits data; shipped inside scikit-learn, so it loads anywhere.
"""

from __future__ import annotations

from harness.data.image_data import Augment, DataRequest, DatasetSource, RawData, register_dataset
from harness.errors import DatasetError


def read_digits(request: DataRequest) -> RawData:
    """All 1,797 digits as training images (the validation split is carved from them)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DatasetError("dataset 'digits' needs scikit-learn: pip install scikit-learn") from None
    import torch

    bunch = load_digits()
    # 0..16 grey levels -> 0..255, so the images are uint8 like every other dataset.
    x = torch.from_numpy(bunch.images).mul_(255.0 / 16.0).round_().to(torch.uint8).unsqueeze(1)
    y = torch.from_numpy(bunch.target).to(torch.int64)
    classes = tuple(str(int(c)) for c in bunch.target_names)
    # A 1-pixel shift is an eighth of the image; no flips: a mirrored 2 or 7 is not a digit.
    return RawData(train_x=x.contiguous(), train_y=y, classes=classes, source="scikit-learn load_digits",
                   augment=Augment(crop_padding=1, flip=False))


register_dataset(DatasetSource(
    name="digits",
    description="scikit-learn's handwritten digits: 1,797 real 8x8 grey images, 10 classes",
    needs="scikit-learn (bundled data, no download)",
    read=read_digits,
    shape=((1, 8, 8), 10),
    path="none",
))

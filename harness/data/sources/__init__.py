"""Dataset sources: each reads one kind of dataset into raw uint8 images and registers itself
(on import of this package) in `harness.data.image_data.DATASETS`."""

from harness.data.sources import digits, embedded, image_folder, standard  # noqa: F401

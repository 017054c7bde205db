"""Scoring a model on a split: `evaluate` (loss, accuracy, per-class figures, in fp32 and inference
mode, with a large batch), its batch size, optional flip averaging (`flip_averaged`), and the test
split's scores for re-evaluation (`evaluate_test`)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from harness.data import ImageData
from harness.data.loader import Normalize, eval_batches
from harness.train.metrics import Scores, confusion_counts
from harness.train.train_config import TrainConfig


@torch.inference_mode()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, normalize: Normalize, batch_size: int,
    device: torch.device, num_classes: int | None = None, tta: bool = False,
) -> Scores:
    """Scores (mean loss, accuracy, balanced accuracy, macro F1, confusion matrix) of `model` (on
    `device`) on uint8 images `x` and labels `y`, which may live on the device or in host memory.
    The confusion matrix is one bincount per batch on the device, so the per-class figures cost
    nothing beside the accuracy. In fp32 whatever the training precision: bf16 logits (8 bits of
    mantissa) tie often enough to bias the argmax, and so the accuracy, against fp32. With `tta`,
    each image's logits are the mean of its own and its mirror image's (test-time flip averaging)."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    confusion: torch.Tensor | None = None
    for xb, yb in eval_batches(x, y, normalize, device, batch_size):
        logits = model(xb)
        if tta:
            logits = (logits + model(xb.flip(3))) * 0.5
        loss_sum += F.cross_entropy(logits, yb, reduction="sum")
        counts = confusion_counts(logits.argmax(1), yb, num_classes or logits.shape[1])
        confusion = counts if confusion is None else confusion + counts
    n = max(1, len(y))
    if confusion is None:  # no images
        k = num_classes or 1
        return Scores(0.0, 0.0, 0.0, 0.0, torch.zeros((k, k), dtype=torch.long))
    return Scores.from_confusion(loss_sum.item() / n, confusion)


def eval_batch_size(config: TrainConfig, device: torch.device) -> int:
    """The evaluation batch: the config's, else 1024 on CUDA and 256 on CPU, where batches that fit
    the caches evaluate about 3x faster than one of 1000 (measured)."""
    return config.eval_batch_size or (1024 if device.type == "cuda" else 256)


def evaluate_test(model: nn.Module, data: ImageData, config: TrainConfig, device: torch.device | str
                  ) -> Scores | None:
    """The Scores of a trained `model` on the test split of `data`, wherever it lives;
    None when the dataset has no test split. Only re-evaluation (harness rank) calls this: a search
    never reads the test split."""
    if data.test_x is None or data.test_y is None:
        return None
    device = torch.device(device)
    return evaluate(model, data.test_x, data.test_y, Normalize(data, device), eval_batch_size(config, device), device,
                    data.num_classes, tta=flip_averaged(config, data))


def flip_averaged(config: TrainConfig, data: ImageData) -> bool:
    """Whether evaluation averages each image with its mirror: asked for (`tta`) and the data is one
    whose mirror images are images of the same class (its training flips them)."""
    return config.tta and config.augment_for(data).flip

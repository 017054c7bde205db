"""The values an ArchSpec's fields may take, as data: the choice tuples (STEM_KINDS, DOWNSAMPLE_MODES,
HEAD_POOLS, ..., PADDINGS) and GoogLeNet's branch proportions, one check table per part (STEM_CHECKS,
STAGE_CHECKS, HEAD_CHECKS, NET_CHECKS: field -> check), and `check_fields` and `check_keys`, which
apply them to a spec and to the mapping it is read from.

harness.zoo.spec checks each field with these and then what spans fields (ArchSpec.validate);
the search space's loader checks a space's fixed values with the same tables.
"""

from __future__ import annotations

import dataclasses

from harness.errors import InvalidValueError, SpecError
from harness.value_checks import (
    Check,
    check_branches,
    check_choice,
    check_float,
    check_int,
    check_kernel,
    check_name,
    check_optional,
    check_widths,
)

STEM_KINDS = ("conv", "imagenet", "patchify", "patch_embed", "googlenet", "squeezenet", "none")
DOWNSAMPLE_MODES = ("conv", "maxpool", "maxpool3", "avgpool", "patch", "transition")
# "token": the network's last stage (attention) carries a class token, and the head reads it (ViT).
HEAD_POOLS = ("avg", "max", "token")
HEAD_NORMS = ("none", "pre", "post")
HEAD_PRE_POOLS = ("none", "maxpool")
HEAD_CLASSIFIERS = ("linear", "conv")
ATTENTIONS = ("none", "spatial")
# Where an attention stage gets position from: a learned embedding added to the tokens (ViT), a
# learned bias per head and relative offset added to the attention logits (Swin, BEiT), or none.
POSITIONS = ("learned", "relative", "none")
# How a stage's convs treat the border: torch's padding modes ("zeros" pads with 0 and so tells a
# conv where the edge is; "reflect" mirrors without repeating the edge pixel, "replicate" repeats
# it, "circular" wraps around), or "valid": no padding at all (the lecture's clipping: each kxk conv
# shrinks the map by dilation x (k - 1); only plain stages, whose blocks add nothing to their input).
PADDINGS = ("zeros", "reflect", "replicate", "circular", "valid")
# GoogLeNet's inception (3a) branch widths as fractions of the module's 256 output channels, in
# torchvision's order (1x1, kxk reduce, kxk, wide reduce, wide, pool projection): 64/96/128/16/32/32.
INCEPTION_RATIOS = (0.25, 0.375, 0.5, 0.0625, 0.125, 0.125)

STEM_CHECKS: dict[str, Check] = {
    "kind": check_choice(STEM_KINDS),
    "width": check_int(1),
    "kernel_size": check_int(1),  # odd unless patchify: checked by ArchSpec.validate
    "stride": check_int(1),
}
STAGE_CHECKS: dict[str, Check] = {
    "block": check_name,
    "depth": check_int(1),
    "width": check_int(1),
    "kernel_size": check_kernel,
    "stride": check_int(1),
    "dilation": check_int(1),
    "downsample": check_choice(DOWNSAMPLE_MODES),
    "expansion": check_optional(check_float(0.0, 64.0, low_open=True, high_open=False)),
    "groups": check_int(1),
    "group_width": check_optional(check_int(1)),
    "se": check_int(0),
    "attention": check_choice(ATTENTIONS),
    "compression": check_float(0.0, 1.0, low_open=True, high_open=False),
    "branches": check_optional(check_branches),
    "wide_kernel": check_optional(check_kernel),
    "padding": check_choice(PADDINGS),
    "heads": check_optional(check_int(1)),
    "position": check_optional(check_choice(POSITIONS)),
}
HEAD_CHECKS: dict[str, Check] = {
    "pool": check_choice(HEAD_POOLS),
    "dropout": check_float(0.0, 1.0),
    "pool_size": check_int(1),
    "norm": check_choice(HEAD_NORMS),
    "width": check_int(0),
    "hidden": check_widths,
    "pre_pool": check_choice(HEAD_PRE_POOLS),
    "classifier": check_choice(HEAD_CLASSIFIERS),
}
NET_CHECKS: dict[str, Check] = {
    "norm": check_name,
    "activation": check_name,
    "drop_path": check_float(0.0, 1.0),
}


def check_fields(where: str, obj: object, checks: dict[str, Check]) -> None:
    """Apply `checks` (field -> check) to `obj`'s fields; SpecError naming `where` and the field."""
    for name, check in checks.items():
        try:
            check(f"{where} {name}", getattr(obj, name))
        except InvalidValueError as err:
            raise SpecError(str(err)) from None


def check_keys(where: str, data: object, cls: type) -> None:
    """SpecError unless `data` is a mapping whose keys are all fields of the dataclass `cls`."""
    if not isinstance(data, dict):
        raise SpecError(f"{where} must be a mapping, not {type(data).__name__}")
    valid = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in valid:
            raise SpecError(f"{where}: unknown key {key!r}; valid: {', '.join(valid)}")

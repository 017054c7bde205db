"""ArchSpec: frozen plain data for a stage-based CNN (stem -> stages -> head), four types (StemSpec,
StageSpec, HeadSpec, ArchSpec), with what spans fields: validation, feature-map sizes, the dict
round trip, a stable id and a short label.

The spec is what a search samples and what a model is built from. It knows nothing of Optuna,
YAML or torch: it is numbers and names, so it can be hashed, compared, stored in a trial and
written to a file. The values each field may take, and their checks, are in harness.zoo.spec_values;
the size arithmetic in harness.zoo.geometry. Names (block, norm, activation) are checked against the
registries by `harness.zoo.model.validate_spec`, which also calls `ArchSpec.validate`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.errors import SpecError
from harness.value_checks import check_odd
from harness.zoo.geometry import ceil_pool_size, check_wrap_padding, valid_stage_size
from harness.zoo.spec_values import (
    HEAD_CHECKS,
    NET_CHECKS,
    STAGE_CHECKS,
    STEM_CHECKS,
    check_fields,
    check_keys,
)

# Abbreviations for the short label, so a plot legend stays readable.
_PADDING_ABBREV = {"zeros": "z", "reflect": "r", "replicate": "e", "circular": "c", "valid": "v"}
_NORM_ABBREV = {"batch": "bn", "group": "gn", "layer": "ln", "none": "nonorm"}


@dataclass(frozen=True)
class StemSpec:
    """The layers before the first stage: a kind, its output width, kernel size and stride.

    kinds: "conv" (kxk conv-norm-act at stride s, CIFAR style); "imagenet" (that conv, then a 3x3/2
    max-pool, as ResNet and DenseNet); "patchify" (a pxp conv at stride p, then a norm, as ConvNeXt:
    kernel_size = stride = p); "patch_embed" (that pxp conv alone, ViT's patch embedding);
    "googlenet" (kxk/s conv to width/3, 3x3/2 max-pool, 1x1 conv, 3x3 conv to width, 3x3/2
    max-pool); "squeezenet" (kxk/s conv without padding, then a 3x3/2 ceil-mode
    max-pool); "none" (no stem: the first stage sees the image, as VGG).
    """

    kind: str = "conv"
    width: int = 32
    kernel_size: int = 3
    stride: int = 1


@dataclass(frozen=True)
class StageSpec:
    """One stage: `depth` blocks of one family at one width; the stage downsamples by `stride` once.

    `downsample` says how: "conv" makes the first block strided (its family's way: the kxk conv of
    ResNet, the depthwise conv of MobileNet); "maxpool"/"avgpool" put a stride x stride pool in front,
    "maxpool3" an overlapping 3x3 max-pool at that stride in ceil mode (GoogLeNet, SqueezeNet);
    "patch" puts ConvNeXt's norm then stride x stride conv (to the stage width) in front; "transition"
    puts DenseNet's norm-act-1x1 conv (to `compression` x the width) then average pool in front.
    A downsampling layer is only built when stride > 1. `dilation` applies to every kxk conv.
    `padding` is how every padded conv of the stage fills the border (PADDINGS): a torch padding
    mode, or "valid" (none; plain stages only).

    The options below are read by the families that have them (`harness.zoo.blocks` says which) and
    must stay at their defaults elsewhere:
      expansion    inner width ratio: bottleneck (inner/width, ResNet 0.25), convnext (inner/width,
                   4), inverted_residual (inner/input width, 6), dense (bottleneck/growth, 4);
                   None = the family's default.
      groups       grouped kxk convs (ResNeXt's cardinality); group_width fixes each group's
                   channels instead of `expansion` (ResNeXt 32x4d: groups 32, group_width 4).
      se           squeeze-and-excitation reduction ratio r (squeeze to channels // r); 0 = off.
      attention    "spatial": a per-position weight map (CBAM's spatial gate) after the block body.
      compression  transition output width / input width (DenseNet-BC 0.5).
      branches     inception widths (1x1, kxk reduce, kxk, wide reduce, wide, pool proj): integers, or
                   fractions of the stage width; None = GoogLeNet's proportions.
      wide_kernel  the kernel of inception's "5x5" branch (torchvision uses 3); None = kernel_size.
      heads        attention heads (attention; each head gets width / heads channels).
      position     an attention stage's position information (POSITIONS).
    The token families (attention, mlp) mix all positions of the map: they read no kernel size,
    dilation, padding, se or spatial attention, which stay at their defaults there.
    For a dense stage, `width` is the growth rate: each block adds `width` channels.
    """

    block: str = "plain"
    depth: int = 1
    width: int = 32
    kernel_size: int = 3
    stride: int = 1
    dilation: int = 1
    downsample: str = "conv"
    expansion: float | None = None
    groups: int = 1
    group_width: int | None = None
    se: int = 0
    attention: str = "none"
    compression: float = 0.5
    branches: tuple[float, ...] | None = None
    wide_kernel: int | None = None
    padding: str = "zeros"
    heads: int | None = None
    position: str | None = None

    def __post_init__(self) -> None:
        # YAML gives lists and ints where the spec keeps tuples and floats: normalise so equal
        # stages compare (and hash, and get ids) equal.
        if isinstance(self.branches, list):
            object.__setattr__(self, "branches", tuple(self.branches))
        for name in ("expansion", "compression"):
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))


@dataclass(frozen=True)
class HeadSpec:
    """Classifier head: [norm-act] -> [1x1 conv to `width`] -> [2x2 max-pool] -> pool to
    pool_size x pool_size -> [norm] -> flatten -> hidden linear-act-dropout layers -> linear.

    norm: "pre" normalises and activates the last feature map (pre-activation nets: DenseNet),
    "post" normalises the pooled features (ConvNeXt). width > 0 adds MobileNet's last 1x1
    conv-norm-act. pre_pool "maxpool" is VGG's last max-pool. Dropout comes after each hidden
    layer, or before the classifier when there is none. classifier "conv" (SqueezeNet, NIN)
    instead classifies every position with a 1x1 conv, activates, then averages the logits.
    """

    pool: str = "avg"
    dropout: float = 0.0
    pool_size: int = 1
    norm: str = "none"
    width: int = 0
    hidden: tuple[int, ...] = ()
    pre_pool: str = "none"
    classifier: str = "linear"

    def __post_init__(self) -> None:
        # YAML reads `dropout: 0` as an int; store a float so equal specs get equal ids.
        if isinstance(self.dropout, int) and not isinstance(self.dropout, bool):
            object.__setattr__(self, "dropout", float(self.dropout))
        if isinstance(self.hidden, list):
            object.__setattr__(self, "hidden", tuple(self.hidden))


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: stem, stages (in order), head, the network-wide norm and activation, and
    the stochastic-depth rate of the last residual block (rising linearly from 0 over the blocks)."""

    stem: StemSpec = field(default_factory=StemSpec)
    stages: tuple[StageSpec, ...] = ()
    head: HeadSpec = field(default_factory=HeadSpec)
    norm: str = "batch"
    activation: str = "relu"
    drop_path: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.stages, list):
            object.__setattr__(self, "stages", tuple(self.stages))
        if isinstance(self.drop_path, int) and not isinstance(self.drop_path, bool):
            object.__setattr__(self, "drop_path", float(self.drop_path))

    # ---------------------------------------------------------------- validation
    def validate(self, input_size: tuple[int, int] | None = None) -> None:
        """Raise SpecError with the reason if any value is out of range or, given the input's
        (height, width), if a feature map would shrink to nothing. Family-specific rules (which
        options a block reads, whether it can stride) are checked by `harness.zoo.model.validate_spec`."""
        check_fields("stem", self.stem, STEM_CHECKS)
        if self.stem.kind in ("patchify", "patch_embed"):
            if self.stem.kernel_size != self.stem.stride:
                raise SpecError(
                    f"a {self.stem.kind} stem cuts p x p patches at stride p: kernel_size "
                    f"({self.stem.kernel_size}) and stride ({self.stem.stride}) must be the same p"
                )
        else:
            check_odd("stem kernel_size", self.stem.kernel_size)
        if self.stem.kind == "googlenet" and self.stem.width % 3:
            raise SpecError(f"a googlenet stem's first convs have width/3 channels: width "
                            f"{self.stem.width} must be a multiple of 3 (GoogLeNet: 192)")
        if not self.stages:
            raise SpecError("a network needs at least one stage")
        for i, stage in enumerate(self.stages, start=1):
            check_fields(f"stage {i}", stage, STAGE_CHECKS)
            if stage.expansion is not None and stage.group_width is not None:
                raise SpecError(f"stage {i}: give `expansion` or `group_width` (the inner width is "
                                "groups x group_width), not both")
        check_fields("head", self.head, HEAD_CHECKS)
        if self.head.pool == "token" and (self.head.pool_size != 1 or self.head.width or self.head.norm == "pre"
                                          or self.head.pre_pool != "none" or self.head.classifier != "linear"):
            raise SpecError("a token head (ViT's) reads the class token: it takes pool_size 1, no head width, "
                            "no pre-norm, no pre_pool and a linear classifier")
        if self.head.classifier == "conv" and (self.head.hidden or self.head.pool_size != 1
                                               or self.head.norm == "post"):
            raise SpecError("a conv classifier (SqueezeNet's) classifies each position then averages: "
                            "it takes no hidden layers, no post-pool norm and pool_size 1")
        check_fields("network", self, NET_CHECKS)
        if input_size is not None:
            self.feature_sizes(input_size)

    def feature_sizes(self, input_size: tuple[int, int]) -> list[tuple[int, int]]:
        """(height, width) after the stem and after each stage; SpecError if one reaches zero."""
        h, w = input_size
        if h < 1 or w < 1:
            raise SpecError(f"input size {h}x{w} is empty")
        where = f"(input {input_size[0]}x{input_size[1]})"
        stem = self.stem
        if stem.kind in ("patchify", "patch_embed"):
            if h < stem.stride or w < stem.stride:
                raise SpecError(f"the {stem.kind} stem cuts {stem.stride}x{stem.stride} patches from a "
                                f"{h}x{w} image: it has none {where}")
            h, w = h // stem.stride, w // stem.stride
        elif stem.kind == "squeezenet":
            # A conv without padding, then a 3x3/2 ceil-mode max-pool.
            k, s = stem.kernel_size, stem.stride
            if h < k or w < k:
                raise SpecError(f"the squeezenet stem's {k}x{k} conv without padding needs an input of "
                                f"at least {k}x{k} {where}")
            h, w = ceil_pool_size(((h - k) // s + 1, (w - k) // s + 1), 3, 2)
        elif stem.kind != "none":
            # A conv with "same" padding, and a 3x3/2 max-pool with padding 1, give ceil(size / stride).
            h, w = -(-h // stem.stride), -(-w // stem.stride)
            if stem.kind == "imagenet":
                h, w = -(-h // 2), -(-w // 2)
            elif stem.kind == "googlenet":  # two 3x3/2 ceil-mode max-pools
                h, w = ceil_pool_size(ceil_pool_size((h, w), 3, 2), 3, 2)
        if min(h, w) < 1:
            raise SpecError(f"the {stem.kind} stem leaves nothing of a {input_size[0]}x{input_size[1]} input")
        sizes = [(h, w)]
        for i, stage in enumerate(self.stages, start=1):
            s = stage.stride
            entry = (h, w)  # the map the stage gets
            if s > 1 and stage.downsample != "conv":
                # Pools and patch convs have no padding: a map smaller than the stride vanishes.
                if h < s or w < s:
                    raise SpecError(
                        f"stage {i} downsamples ({stage.downsample}) a {h}x{w} feature map by stride "
                        f"{s}: the map is already smaller than the stride and would vanish {where}; "
                        "use fewer downsampling stages or a larger input"
                    )
                h, w = ceil_pool_size((h, w), 3, s) if stage.downsample == "maxpool3" else (h // s, w // s)
            elif stage.padding != "valid":
                # A strided conv with same padding gives ceil(size / stride), 1x1 at the least.
                h, w = -(-h // s), -(-w // s)
            if stage.padding == "valid":
                h, w = valid_stage_size(i, stage.kernel_size, stage.dilation, stage.depth,
                                        stage.stride if stage.downsample == "conv" else 1, (h, w), where)
            elif stage.padding in ("reflect", "circular"):
                pad = stage.dilation * (max(stage.kernel_size, stage.wide_kernel or 0) - 1) // 2
                if stage.attention == "spatial":
                    pad = max(pad, 3)  # the spatial gate's 7x7 conv
                # A single plain block that strides by conv pads the map it gets; else a padded conv
                # sees the stage's output map, the smallest.
                single = (stage.block == "plain" and stage.depth == 1 and stage.downsample == "conv"
                          and stage.attention == "none" and stage.stride > 1)
                check_wrap_padding(i, stage.padding, pad, entry if single else (h, w), where)
            sizes.append((h, w))
        if self.head.pre_pool == "maxpool" and (h < 2 or w < 2):
            raise SpecError(f"the head's 2x2 max-pool needs a map of at least 2x2, not {h}x{w} {where}")
        if self.head.pool == "token":
            sizes[-1] = (1, 1)  # the last stage hands the head its class token
        return sizes

    def map_sizes(self, input_size: tuple[int, int]) -> list[tuple[int, int]]:
        """(height, width) of the map after the stem and each stage, the token map of a
        class-token stage included (where `feature_sizes` gives the class token's 1x1)."""
        if self.head.pool != "token":
            return self.feature_sizes(input_size)
        return dataclasses.replace(self, head=HeadSpec()).feature_sizes(input_size)

    # ---------------------------------------------------------------- identity
    def to_dict(self, *, compact: bool = False) -> dict[str, Any]:
        """Plain nested dict (JSON/YAML-ready) of the spec; `compact` leaves out default values."""
        d = _plain(dataclasses.asdict(self))
        if compact:
            d = _drop_defaults(d, self)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        """Inverse of to_dict; an unknown key raises SpecError naming it."""
        if not isinstance(data, dict):
            raise SpecError(f"a spec must be a mapping, not {type(data).__name__}")
        check_keys("spec", data, cls)
        stem = data.get("stem", {})
        head = data.get("head", {})
        stages = data.get("stages", [])
        check_keys("stem", stem, StemSpec)
        check_keys("head", head, HeadSpec)
        if not isinstance(stages, (list, tuple)):
            raise SpecError("stages must be a list")
        for i, stage in enumerate(stages, start=1):
            check_keys(f"stage {i}", stage, StageSpec)
        rest = {k: v for k, v in data.items() if k not in ("stem", "head", "stages")}
        return cls(
            stem=StemSpec(**stem),
            stages=tuple(StageSpec(**s) for s in stages),
            head=HeadSpec(**head),
            **rest,
        )

    @property
    def spec_id(self) -> str:
        """Stable 12-hex-digit id: the same architecture always gets the same id. Options added
        after ids were first given (padding) are left out at their defaults, so a network keeps
        the id it had in studies made before them."""
        d = self.to_dict()
        for stage in d["stages"]:
            for key, default in _LATER_OPTIONS.items():
                if stage[key] == default:
                    del stage[key]
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """Short human label, e.g. 'plain w16-32-64 n1-1-1 k3-5-9 d1-2-1 s2-2-2 bn relu'; options
        away from their defaults are added (g = groups, e = expansion, se, sa = spatial attention)."""

        def per_stage(attr: str, fmt: Callable[[Any], str] = str) -> str:
            return "-".join(fmt(getattr(s, attr)) for s in self.stages)

        def varies(attr: str) -> bool:
            default = getattr(StageSpec(), attr)
            return any(getattr(s, attr) != default for s in self.stages)

        blocks = sorted({s.block for s in self.stages}, key=[s.block for s in self.stages].index)
        parts = []
        if self.stem.kind != "conv":
            parts.append(f"{self.stem.kind}-stem")
        parts += [
            "+".join(blocks),
            f"w{per_stage('width')}",
            f"n{per_stage('depth')}",
            f"k{per_stage('kernel_size')}",
            f"d{per_stage('dilation')}",
            f"s{per_stage('stride')}",
        ]
        abbrev = {"conv": "c", "maxpool": "m", "maxpool3": "o", "avgpool": "a", "patch": "p", "transition": "t"}
        if varies("downsample"):
            parts.append("ds" + "".join(abbrev[s.downsample] for s in self.stages))
        if varies("groups"):
            parts.append(f"g{per_stage('groups')}")
        if varies("group_width"):
            parts.append(f"gw{per_stage('group_width', lambda v: '-' if v is None else str(v))}")
        if varies("expansion"):
            parts.append(f"e{per_stage('expansion', lambda v: '-' if v is None else f'{v:g}')}")
        if varies("se"):
            parts.append(f"se{per_stage('se')}")
        if varies("attention"):
            parts.append("sa" + "".join("1" if s.attention == "spatial" else "0" for s in self.stages))
        if varies("padding"):
            parts.append("pad" + "".join(_PADDING_ABBREV[s.padding] for s in self.stages))
        if varies("heads"):
            parts.append(f"h{per_stage('heads', lambda v: '_' if v is None else str(v))}")
        if varies("position"):
            parts.append("pos" + "".join("_" if s.position is None else s.position[0] for s in self.stages))
        if self.head.pool == "token":
            parts.append("cls")
        parts += [_NORM_ABBREV.get(self.norm, self.norm), self.activation]
        return " ".join(parts)


# Stage options added after ids were first given, at their defaults: left out of spec_id.
_LATER_OPTIONS = {"padding": "zeros", "heads": None, "position": None}


def _plain(value: Any) -> Any:
    """Tuples -> lists, recursively, so a dict is the same after a JSON or YAML round trip."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _drop_defaults(d: dict[str, Any], spec: ArchSpec) -> dict[str, Any]:
    def compact(section: dict[str, Any], default: object) -> dict[str, Any]:
        base = _plain(dataclasses.asdict(default))  # type: ignore[call-overload]
        return {k: v for k, v in section.items() if v != base[k]}

    out: dict[str, Any] = {}
    for key in ("stem", "head"):
        section = compact(d[key], type(getattr(spec, key))())
        if section:
            out[key] = section
    out["stages"] = [compact(stage, StageSpec()) for stage in d["stages"]]
    net = ArchSpec()
    out.update({k: d[k] for k in ("norm", "activation", "drop_path") if d[k] != getattr(net, k)})
    return out

"""ArchSpec: frozen plain data for a stage-based CNN (stem -> stages -> head), validated, with a stable id.

The spec is what a search samples and what a model is built from. It knows nothing of Optuna,
YAML or torch: it is numbers and names, so it can be hashed, compared, stored in a trial and
written to a file. Names (block, norm, activation) are checked against the registries by
`harness.model.validate_spec`, which also calls `ArchSpec.validate`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.errors import InvalidValueError, SpecError

DOWNSAMPLE_MODES = ("conv", "maxpool")
HEAD_POOLS = ("avg", "max")

# Abbreviations for the short label, so a plot legend stays readable.
_NORM_ABBREV = {"batch": "bn", "group": "gn", "layer": "ln", "none": "nonorm"}


@dataclass(frozen=True)
class StemSpec:
    """The first conv-norm-activation layer: width (channels), kernel size and stride."""

    width: int = 32
    kernel_size: int = 3
    stride: int = 1


@dataclass(frozen=True)
class StageSpec:
    """One stage: `depth` blocks of one type at one width; the first block downsamples by `stride`.

    `downsample` says how: "conv" puts the stride on the first block's convolution, "maxpool"
    puts a stride x stride max-pool in front of the stage and runs every block at stride 1.
    `dilation` applies to every kxk convolution of the stage.
    """

    block: str = "plain"
    depth: int = 1
    width: int = 32
    kernel_size: int = 3
    stride: int = 1
    dilation: int = 1
    downsample: str = "conv"


@dataclass(frozen=True)
class HeadSpec:
    """Classifier head: global pooling ("avg" or "max"), dropout probability, then one linear layer."""

    pool: str = "avg"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        # YAML reads `dropout: 0` as an int; store a float so equal specs get equal ids.
        if isinstance(self.dropout, int) and not isinstance(self.dropout, bool):
            object.__setattr__(self, "dropout", float(self.dropout))


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: stem, stages (in order), head, and the network-wide norm and activation."""

    stem: StemSpec = field(default_factory=StemSpec)
    stages: tuple[StageSpec, ...] = ()
    head: HeadSpec = field(default_factory=HeadSpec)
    norm: str = "batch"
    activation: str = "relu"

    # ---------------------------------------------------------------- validation
    def validate(self, input_size: tuple[int, int] | None = None) -> None:
        """Raise SpecError with the reason if any value is out of range or, given the input's
        (height, width), if a feature map would shrink to nothing."""
        _check_fields("stem", self.stem, STEM_CHECKS)
        if not self.stages:
            raise SpecError("a network needs at least one stage")
        for i, stage in enumerate(self.stages, start=1):
            _check_fields(f"stage {i}", stage, STAGE_CHECKS)
        _check_fields("head", self.head, HEAD_CHECKS)
        for name in ("norm", "activation"):
            if not isinstance(getattr(self, name), str):
                raise SpecError(f"{name} must be a name, not {getattr(self, name)!r}")
        if input_size is not None:
            self.feature_sizes(input_size)

    def feature_sizes(self, input_size: tuple[int, int]) -> list[tuple[int, int]]:
        """(height, width) after the stem and after each stage; SpecError if one reaches zero."""
        h, w = input_size
        if h < 1 or w < 1:
            raise SpecError(f"input size {h}x{w} is empty")
        # A conv with "same" padding gives ceil(size / stride) for any odd kernel and dilation.
        h, w = -(-h // self.stem.stride), -(-w // self.stem.stride)
        sizes = [(h, w)]
        for i, stage in enumerate(self.stages, start=1):
            s = stage.stride
            # A strided conv on a map smaller than its stride still gives 1x1; a max-pool gives 0x0.
            if stage.downsample == "maxpool" and s > 1 and (h < s or w < s):
                raise SpecError(
                    f"stage {i} max-pools a {h}x{w} feature map by stride {s}: the map is "
                    f"already smaller than the stride and would vanish (input "
                    f"{input_size[0]}x{input_size[1]}); use fewer downsampling stages or a larger input"
                )
            if stage.downsample == "maxpool":
                h, w = h // s, w // s  # MaxPool2d(s, s) floors
            else:
                h, w = -(-h // s), -(-w // s)
            sizes.append((h, w))
        return sizes

    # ---------------------------------------------------------------- identity
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON/YAML-ready) of the spec."""
        d = dataclasses.asdict(self)
        d["stages"] = [dict(s) for s in d["stages"]]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        """Inverse of to_dict; an unknown key raises SpecError naming it."""
        if not isinstance(data, dict):
            raise SpecError(f"a spec must be a mapping, not {type(data).__name__}")
        _check_keys("spec", data, cls)
        stem = data.get("stem", {})
        head = data.get("head", {})
        stages = data.get("stages", [])
        _check_keys("stem", stem, StemSpec)
        _check_keys("head", head, HeadSpec)
        if not isinstance(stages, (list, tuple)):
            raise SpecError("stages must be a list")
        for i, stage in enumerate(stages, start=1):
            _check_keys(f"stage {i}", stage, StageSpec)
        rest = {k: v for k, v in data.items() if k not in ("stem", "head", "stages")}
        return cls(
            stem=StemSpec(**stem),
            stages=tuple(StageSpec(**s) for s in stages),
            head=HeadSpec(**head),
            **rest,
        )

    @property
    def spec_id(self) -> str:
        """Stable 12-hex-digit id: the same architecture always gets the same id."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """Short human label, e.g. 'plain w16-32-64 k3-5-9 d1-2-1 s2-2-2 bn relu'."""

        def per_stage(attr: str) -> str:
            return "-".join(str(getattr(s, attr)) for s in self.stages)

        blocks = sorted({s.block for s in self.stages}, key=[s.block for s in self.stages].index)
        parts = [
            "+".join(blocks),
            f"w{per_stage('width')}",
            f"n{per_stage('depth')}",
            f"k{per_stage('kernel_size')}",
            f"d{per_stage('dilation')}",
            f"s{per_stage('stride')}",
        ]
        if any(s.downsample == "maxpool" for s in self.stages):
            parts.append("mp" + "".join("1" if s.downsample == "maxpool" else "0" for s in self.stages))
        parts += [_NORM_ABBREV.get(self.norm, self.norm), self.activation]
        return " ".join(parts)


# -------------------------------------------------------------------- value checks
# Each check takes (what, value) and raises InvalidValueError("<what> must be ..."); the search-space
# loader reuses them, adding the file and key to the message.
Check = Callable[[str, object], None]


def check_int(low: int) -> Check:
    """Check: an integer >= low."""

    def check(what: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValueError(f"{what} must be an integer, not {value!r}")
        if value < low:
            raise InvalidValueError(f"{what} must be >= {low}, not {value}")

    return check


def check_kernel(what: str, value: object) -> None:
    """Check: an odd positive kernel size."""
    check_int(1)(what, value)
    if value % 2 == 0:  # type: ignore[operator]
        raise InvalidValueError(
            f"{what} must be odd (1, 3, 5, ...), not {value}: an even kernel cannot keep the "
            "feature map centred with symmetric padding"
        )


def check_float(low: float, high: float, *, high_open: bool = True, low_open: bool = False) -> Check:
    """Check: a number in the interval from low to high (open or closed at either end)."""
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"

    def check(what: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidValueError(f"{what} must be a number, not {value!r}")
        below = value <= low if low_open else value < low
        above = value >= high if high_open else value > high
        if below or above or math.isnan(value):
            raise InvalidValueError(f"{what} must be in {lo}{low}, {high}{hi}, not {value}")

    return check


def check_choice(options: tuple[str, ...]) -> Check:
    """Check: one of the given names."""

    def check(what: str, value: object) -> None:
        if value not in options:
            raise InvalidValueError(f"{what} {value!r} is not valid; valid: {', '.join(options)}")

    return check


def check_optional(check: Check) -> Check:
    """Check: None, or what `check` accepts."""

    def optional(what: str, value: object) -> None:
        if value is not None:
            check(what, value)

    return optional


def check_name(what: str, value: object) -> None:
    """Check: a string (a registry name; the registry itself is checked by harness.model)."""
    if not isinstance(value, str):
        raise InvalidValueError(f"{what} must be a name, not {value!r}")


STEM_CHECKS: dict[str, Check] = {
    "width": check_int(1),
    "kernel_size": check_kernel,
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
}
HEAD_CHECKS: dict[str, Check] = {
    "pool": check_choice(HEAD_POOLS),
    "dropout": check_float(0.0, 1.0),
}


def _check_fields(where: str, obj: object, checks: dict[str, Check]) -> None:
    for name, check in checks.items():
        try:
            check(f"{where} {name}", getattr(obj, name))
        except InvalidValueError as err:
            raise SpecError(str(err)) from None


def _check_keys(where: str, data: object, cls: type) -> None:
    if not isinstance(data, dict):
        raise SpecError(f"{where} must be a mapping, not {type(data).__name__}")
    valid = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in valid:
            raise SpecError(f"{where}: unknown key {key!r}; valid: {', '.join(valid)}")

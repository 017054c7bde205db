"""Distribution shifts of a validation split: name -> a deterministic transform of uint8 images, at severities 1-5.

A trial's accuracy on its validation split says nothing of how the network holds up when the
images change a little (ObjectNet: 40-45% drops). These shifts make copies of the validation
images that differ the way real images do, as CIFAR-10-C does (Hendrycks & Dietterich, 2019),
at five named severities each; `shifted_copies` makes them once per study on the device,
deterministically from a seed, and the trainer evaluates every trial on them.

Each shift takes uint8 images (N, C, H, W) and returns uint8 images of the same shape:

  translate   each image moved by `k` whole pixels along a random axis and sign (k = 1, 2, 3, 4, 6 at
              severities 1-5); the uncovered border repeats the image's edge pixels
  rotate      each image turned by +-d degrees about its centre (d = 5, 10, 15, 20, 30), bilinear,
              edge pixels repeated outside
  noise       Gaussian noise of standard deviation s of the full range added (s = 0.04, 0.06, 0.08,
              0.09, 0.10: CIFAR-10-C's), clipped to [0, 255]
  blur        a Gaussian blur of standard deviation b pixels (b = 0.4, 0.6, 0.7, 0.8, 1.0; kernel
              2 * ceil(2b) + 1), edges repeated
  contrast    each image's distance from its own mean scaled by c (c = 0.75, 0.5, 0.4, 0.3, 0.15)
  brightness  every pixel raised by v of the full range (v = 0.1, 0.2, 0.3, 0.4, 0.5), clipped
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from harness.errors import HarnessError
from harness.registry import Registry

SEVERITIES = (1, 2, 3, 4, 5)
ShiftFn = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class Shift:
    """A named shift: its transform, its parameter at each severity, and what the parameter is."""

    name: str
    apply: ShiftFn  # (uint8 images, parameter, generator) -> uint8 images
    levels: tuple[float, ...]  # the parameter at severities 1..5
    unit: str

    def describe(self, severity: int) -> str:
        return f"{self.name} {self.levels[severity - 1]:g} {self.unit}"


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.round_().clamp_(0, 255).to(torch.uint8)


def translate(x: torch.Tensor, k: float, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by k pixels, along x or y (random), forwards or backwards (random)."""
    k = int(k)
    n, _, h, w = x.shape
    axis = torch.randint(0, 2, (n,), generator=generator, device=generator.device)
    sign = torch.randint(0, 2, (n,), generator=generator, device=generator.device) * 2 - 1
    padded = F.pad(x.float(), (k, k, k, k), mode="replicate")
    out = torch.empty_like(x)
    for a in (0, 1):
        for s in (-1, 1):
            pick = (axis == a) & (sign == s)
            if not pick.any():
                continue
            dy, dx = (s * k, 0) if a == 0 else (0, s * k)
            # Content moves by (dy, dx): the output at (i, j) is the input at (i - dy, j - dx).
            out[pick] = padded[pick, :, k - dy : k - dy + h, k - dx : k - dx + w].to(x.dtype)
    return out


def rotate(x: torch.Tensor, degrees: float, generator: torch.Generator) -> torch.Tensor:
    """Each image turned by +-degrees (random sign) about its centre, bilinear, edges repeated."""
    n = x.shape[0]
    sign = torch.randint(0, 2, (n,), generator=generator, device=generator.device).float() * 2 - 1
    theta = sign * math.radians(degrees)
    cos, sin = torch.cos(theta), torch.sin(theta)
    zero = torch.zeros_like(cos)
    matrix = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(matrix.to(x.device), list(x.shape), align_corners=False)
    return _to_uint8(F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False))


def noise(x: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise of `std` (a fraction of the 0-255 range) added to every pixel, clipped."""
    z = torch.randn(x.shape, generator=generator, device=generator.device).to(x.device)
    return _to_uint8(x.float() + z * (std * 255.0))


def blur(x: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """A separable Gaussian blur of `sigma` pixels, edges repeated (the generator is not used)."""
    radius = math.ceil(2 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=x.device)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    y = F.pad(x.float(), (radius, radius, radius, radius), mode="replicate")
    y = F.conv2d(y, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    y = F.conv2d(y, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return _to_uint8(y)


def contrast(x: torch.Tensor, factor: float, generator: torch.Generator) -> torch.Tensor:
    """Each image's distance from its own mean (over pixels and channels) scaled by `factor`."""
    f = x.float()
    mean = f.mean(dim=(1, 2, 3), keepdim=True)
    return _to_uint8((f - mean) * factor + mean)


def brightness(x: torch.Tensor, value: float, generator: torch.Generator) -> torch.Tensor:
    """Every pixel raised by `value` (a fraction of the 0-255 range), clipped."""
    return _to_uint8(x.float() + value * 255.0)


SHIFTS: Registry[Shift] = Registry("shift")
SHIFTS.register("translate", Shift("translate", translate, (1, 2, 3, 4, 6), "px"))
SHIFTS.register("rotate", Shift("rotate", rotate, (5, 10, 15, 20, 30), "degrees"))
SHIFTS.register("noise", Shift("noise", noise, (0.04, 0.06, 0.08, 0.09, 0.10), "std of the range"))
SHIFTS.register("blur", Shift("blur", blur, (0.4, 0.6, 0.7, 0.8, 1.0), "px std"))
SHIFTS.register("contrast", Shift("contrast", contrast, (0.75, 0.5, 0.4, 0.3, 0.15), "x"))
SHIFTS.register("brightness", Shift("brightness", brightness, (0.1, 0.2, 0.3, 0.4, 0.5), "of the range"))


@dataclass(frozen=True)
class Robustness:
    """Which shifts every trial is evaluated on, at which severity (1-5), from which seed."""

    shifts: tuple[str, ...] = ("translate", "rotate", "noise", "blur", "contrast", "brightness")
    severity: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.shifts, list):
            object.__setattr__(self, "shifts", tuple(self.shifts))
        if not self.shifts:
            raise HarnessError("robustness needs at least one shift; valid: " + ", ".join(SHIFTS.names()))
        for name in self.shifts:
            SHIFTS.get(name)  # an unknown name lists the valid ones
        if isinstance(self.severity, bool) or self.severity not in SEVERITIES:
            raise HarnessError(f"shift severity must be one of 1, 2, 3, 4, 5, not {self.severity!r}")

    def describe(self) -> str:
        return f"severity {self.severity}: " + ", ".join(SHIFTS.get(n).describe(self.severity) for n in self.shifts)


def parse_shifts(text: str) -> tuple[str, ...]:
    """"translate,noise" -> ("translate", "noise"); "all" -> every shift; an unknown name is an error."""
    names = tuple(SHIFTS.names()) if text.strip() == "all" else tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        SHIFTS.get(name)
    return names


def shifted_copies(images: torch.Tensor, robustness: Robustness) -> dict[str, torch.Tensor]:
    """Each shift's copy of uint8 `images`, made where they live, the same for a seed on every run
    (each shift draws from its own generator: adding a shift changes no other's copy)."""
    out = {}
    device = images.device
    for name in robustness.shifts:
        shift = SHIFTS.get(name)
        generator = torch.Generator(device=device).manual_seed(robustness.seed * 1000 + _stable_index(name))
        with torch.no_grad():
            out[name] = shift.apply(images, shift.levels[robustness.severity - 1], generator)
    return out


def _stable_index(name: str) -> int:
    return sum(ord(c) * 31**j for j, c in enumerate(name)) % 997


"""Spec files, written and read in one place: `spec_text` writes an ArchSpec as a YAML document
(defaults left out, its label and id as comments) or a JSON one (every field); `load_spec` reads
either back, validated, or takes a preset by name. What `harness export` prints, a model folder's
spec.yaml and an MLflow run's spec artifact are written here; `harness profile`, `harness rank
--spec` and `harness train --spec` read them here.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from harness.errors import HarnessError, SpecError, UnknownNameError
from harness.yamlfile import YamlLimitError, read_yaml
from harness.zoo.presets import PRESETS, preset
from harness.zoo.spec import ArchSpec


def spec_text(spec: ArchSpec, fmt: str = "yaml") -> str:
    """The spec as a YAML (defaults left out) or JSON (complete) document."""
    if fmt == "json":
        return json.dumps(spec.to_dict(), indent=2) + "\n"
    header = f"# {spec.label}\n# spec_id {spec.spec_id}\n"
    return header + yaml.safe_dump(spec.to_dict(compact=True), sort_keys=False)


def recorded_spec_text(spec: dict | None) -> str | None:
    """A spec as a trial recorded it (ArchSpec.to_dict) as the YAML spec_text writes; None without
    one (a trial that failed before its architecture was sampled) or when it no longer reads (a spec
    recorded by another version)."""
    if spec is None:
        return None
    try:
        return spec_text(ArchSpec.from_dict(spec))
    except Exception:  # noqa: BLE001  (the caller goes on without it: an MLflow run logged without spec.yaml)
        return None


def load_spec(name_or_path: str) -> ArchSpec:
    """A preset by name, or a spec file (YAML or JSON: the mapping `ArchSpec.to_dict` writes),
    validated; a problem in the file raises SpecError naming the file."""
    if name_or_path in PRESETS:
        return preset(name_or_path)
    path = Path(name_or_path)
    if not path.exists():
        try:
            PRESETS.get(name_or_path)
        except UnknownNameError as err:
            raise HarnessError(f"{name_or_path}: not a spec file, and {err}") from None
    if path.is_dir():
        raise HarnessError(f"{path}: is a folder, not a spec file")
    try:
        data = read_yaml(path)  # YAML is a superset of JSON; bounded (harness.yamlfile)
    except YamlLimitError as err:
        raise HarnessError(f"{path}: refused: {err}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise HarnessError(f"{path}: not a YAML or JSON spec file ({type(err).__name__})") from None
    if isinstance(data, dict) and "spec" in data and isinstance(data["spec"], dict):
        data = data["spec"]  # a trial export wraps the spec
    from harness.zoo.model import validate_spec

    try:
        spec = ArchSpec.from_dict(data)
        validate_spec(spec)
    except (SpecError, TypeError) as err:
        raise SpecError(f"{path}: {err}") from None
    return spec

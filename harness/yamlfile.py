"""Reading a YAML file someone else wrote, bounded: `read_yaml` refuses (YamlLimitError) a file that is
not a regular file or is over MAX_BYTES (checked with stat before reading), nesting deeper than
MAX_DEPTH, an alias that refers to itself, and a document whose aliases would expand to more than
MAX_NODES nodes ("billion laughs": ten aliases of ten aliases of ... are a few hundred bytes).

yaml.safe_load itself shares an aliased object instead of copying it, so it returns quickly; the
blow-up comes later, when the space is walked, copied into space.yaml or hashed with json.dumps.
So the expanded size is counted on yaml.compose's node graph, each node's count memoised, before
anything is constructed. The pure-Python SafeLoader composes (what safe_load uses): its depth is
counted as it recurses, so deep nesting ends with the limit, not a RecursionError.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1 << 20  # 1 MiB: search-space and spec files are a few KiB
MAX_DEPTH = 64  # levels of nested mappings and lists; a space has about 5
MAX_NODES = 100_000  # nodes after expanding every alias; a space has a few hundred


class YamlLimitError(ValueError):
    """A YAML file over one of the limits; the message says which (the caller names the file)."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses nesting deeper than MAX_DEPTH while it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlLimitError(f"nested more than {MAX_DEPTH} levels deep (line {mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def expanded_size(node: yaml.Node) -> int:
    """The number of nodes `node` stands for once every alias is expanded (a shared node counts each
    time it is used); YamlLimitError past MAX_NODES or for a node inside itself."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise YamlLimitError("an alias refers to the list or mapping it stands in (it would never end)")
        open_nodes.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            children = n.value
        elif isinstance(n, yaml.MappingNode):
            children = [part for pair in n.value for part in pair]
        else:
            children = []
        for child in children:  # depth is bounded by MAX_DEPTH: this recursion is too
            total += size(child)
            if total > MAX_NODES:
                raise YamlLimitError(f"its aliases expand to more than {MAX_NODES:,} values (an alias bomb?)")
        open_nodes.discard(key)
        sizes[key] = total
        return total

    return size(node)


def read_yaml(path: Path) -> Any:
    """The document in the YAML file at `path`, read within the limits above (YamlLimitError says
    which it broke); yaml.YAMLError for bad YAML and UnicodeDecodeError for a file that is not text,
    as yaml.safe_load would raise."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise YamlLimitError("not a regular file")
    if info.st_size > MAX_BYTES:
        raise YamlLimitError(f"is {info.st_size / 2**20:.1f} MiB; a YAML file here may have at most "
                             f"{MAX_BYTES // 2**20} MiB")
    with path.open("rb") as f:
        raw = f.read(MAX_BYTES + 1)  # the file may have grown since stat
    if len(raw) > MAX_BYTES:
        raise YamlLimitError(f"is over {MAX_BYTES // 2**20} MiB")
    loader = _BoundedLoader(raw.decode("utf-8"))
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()

"""Every file harness writes goes through harness.files, which writes a temporary file beside the
target and renames it over it; checked three ways:

- on the AST of every module of harness/: no call that writes a file (write_text, to_csv,
  savefig, torch.save, open(..., "w"), ...) outside harness/files.py, except on the temporary
  path that an atomic_write callback receives (directly, or through a local helper that hands
  the callback on to atomic_write); the checker itself is tried on good and bad snippets;
- for real, a process writing a 64 MiB file through the helper, SIGKILLed at staggered moments
  mid-write: the target always holds the old content entirely, or the new;
- on a full tmpfs: a write that does not fit fails naming its file, leaves the old content and no
  temporary file, and frees what it took.
"""

from __future__ import annotations

import ast
import errno
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.files import append_bytes, temporary_path, write_bytes
from tests.support.faults import fill, free_kib, tmpfs

PACKAGE = Path(__file__).resolve().parent.parent / "harness"
ROOT = PACKAGE.parent

# Methods that write the file given as their first argument (when given one: to_csv() returns text).
WRITE_TO_ARG = {"to_csv", "to_json", "to_parquet", "to_excel", "to_pickle", "to_html", "to_markdown", "savefig",
                "save"}
RECEIVER_WRITES = {"write_text", "write_bytes"}  # Path methods: the receiver is the file
# Functions -> the position of the file they write.
WRITE_FUNCTIONS = {"torch.save": 1, "save_file": 1, "json.dump": 1, "yaml.dump": 1, "yaml.safe_dump": 1,
                   "np.save": 0, "numpy.save": 0, "shutil.copy": 1, "shutil.copy2": 1, "shutil.copyfile": 1,
                   "shutil.move": 1, "torch.onnx.export": 2, "onnx.save": 1, "onnx.save_model": 1}
FORWARD = "atomic_write"


def _dotted(node: ast.AST) -> str:
    """`a.b.c` of a Name/Attribute chain ('' for anything else)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _callee(call: ast.Call) -> str:
    """The called function's own name (the last part of a dotted one)."""
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _arguments(call: ast.Call) -> list[ast.expr]:
    return [*call.args, *(k.value for k in call.keywords)]


def _params(fn: ast.AST) -> set[str]:
    args = fn.args  # type: ignore[attr-defined]
    return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}


def _callbacks(tree: ast.Module) -> set[int]:
    """The ids of the lambdas and functions that receive atomic_write's temporary path: those passed
    to atomic_write, or to a function of this module that passes one of its parameters to it."""
    defs = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    forwarders = {FORWARD}
    changed = True
    while changed:
        changed = False
        for name, fn in defs.items():
            if name in forwarders:
                continue
            params = _params(fn)
            for call in (c for c in ast.walk(fn) if isinstance(c, ast.Call)):
                if _callee(call) in forwarders and any(isinstance(a, ast.Name) and a.id in params
                                                       for a in _arguments(call)):
                    forwarders.add(name)
                    changed = True
                    break
    found: set[int] = set()
    for call in (c for c in ast.walk(tree) if isinstance(c, ast.Call) and _callee(c) in forwarders):
        for arg in _arguments(call):
            found |= {id(n) for n in ast.walk(arg) if isinstance(n, ast.Lambda)}  # also `a if c else lambda p: ...`
            if isinstance(arg, ast.Name) and arg.id in defs:
                found.add(id(defs[arg.id]))
    return found


def _mode_writes(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and any(c in node.value for c in "wax+")


def _target(call: ast.Call) -> ast.expr | None:
    """The file a writing call writes (an expression); None when the call writes no file."""
    func, name = call.func, _callee(call)
    dotted = _dotted(func)
    if name in RECEIVER_WRITES and isinstance(func, ast.Attribute):
        return func.value
    if dotted in WRITE_FUNCTIONS:
        pos = WRITE_FUNCTIONS[dotted]
        if len(call.args) > pos:
            return call.args[pos]
        keys = ("f", "file", "filename", "fp", "stream", "dst")
        named = next((k.value for k in call.keywords if k.arg in keys), None)
        return named  # none: yaml.dump returns text, torch.onnx.export(dynamo=True) a program
    if name in WRITE_TO_ARG and isinstance(func, ast.Attribute) and dotted not in ("torch.save", "np.save"):
        return call.args[0] if call.args else next((k.value for k in call.keywords
                                                    if k.arg in ("path_or_buf", "buf", "fname", "fp", "path")), None)
    if dotted == "open" or dotted == "io.open":
        mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
        return call.args[0] if call.args and _mode_writes(mode) else None
    if name == "open" and isinstance(func, ast.Attribute) and dotted != "os.open":  # Path.open(mode)
        mode = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "mode"), None)
        return func.value if _mode_writes(mode) else None
    if dotted == "os.open":
        flags = ast.dump(call.args[1]) if len(call.args) > 1 else ""
        writes = any(f in flags for f in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND"))
        return call.args[0] if writes else None
    return None


def _unwrap(node: ast.expr) -> ast.expr:
    """`str(x)`, `os.fspath(x)`, `Path(x)` -> x."""
    while isinstance(node, ast.Call) and _dotted(node.func) in ("str", "os.fspath", "Path") and len(node.args) == 1:
        node = node.args[0]
    return node


def direct_writes(source: str, where: str = "<snippet>") -> list[str]:
    """Each call in `source` that writes a file other than an atomic_write callback's temporary
    path (or an in-memory buffer, or os.devnull), as 'where:line: code'."""
    tree = ast.parse(source)
    callbacks = _callbacks(tree)
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    buffers = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
               and _dotted(n.value.func) in ("io.BytesIO", "io.StringIO") for t in n.targets
               if isinstance(t, ast.Name)}
    found = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        target = _target(call)
        if target is None:
            continue
        node = _unwrap(target)
        if isinstance(node, ast.Name) and node.id in buffers or _dotted(node) == "os.devnull":
            continue
        allowed = False
        up = parents.get(id(call))
        while up is not None and isinstance(node, ast.Name):
            if id(up) in callbacks and node.id in _params(up):
                allowed = True
                break
            up = parents.get(id(up))
        if not allowed:
            found.append(f"{where}:{call.lineno}: {ast.unparse(call)[:100]}")
    return found


def test_no_module_writes_a_file_but_through_harness_files() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "files.py":
            continue
        problems += direct_writes(path.read_text(), str(path.relative_to(ROOT)))
    assert problems == [], "write through harness.files (atomic_write, write_text, write_bytes):\n" + "\n".join(
        problems)


@pytest.mark.parametrize(("snippet", "flagged"), [
    ("Path('x').write_text('a')", True),
    ("frame.to_csv(folder / 'trials.csv', index=False)", True),
    ("fig.savefig(path, dpi=100)", True),
    ("torch.save(state, path)", True),
    ("with open(path, 'w') as f: f.write('a')", True),
    ("with open(path, mode='ab') as f: pass", True),
    ("with path.open('w') as f: pass", True),
    ("json.dump(info, open_file)", True),
    ("atomic_write(other, lambda tmp: path.write_text('a'))", True),  # not the temporary path
    ("frame.to_csv(index=False)", False),  # returns the text
    ("with open(path) as f: f.read()", False),
    ("atomic_write(path, lambda tmp: tmp.write_text('a'))", False),
    ("atomic_write(path, lambda p: frame.to_csv(p, index=False))", False),
    ("atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))", False),
    ("def write(path, writer):\n    atomic_write(path, writer)\nwrite(p, lambda q: q.write_bytes(b''))", False),
    ("def save(fig, path):\n    atomic_write(path, lambda tmp: fig.savefig(tmp))", False),
    ("buffer = io.BytesIO()\ntorch.onnx.export(net, (x,), buffer)", False),
    ("fd = os.open(os.devnull, os.O_WRONLY)", False),
    ("fd = os.open(path, os.O_WRONLY | os.O_CREAT)", True),
])
def test_the_write_checker_tells_direct_writes_from_atomic_ones(snippet: str, flagged: bool) -> None:
    assert bool(direct_writes(snippet)) == flagged


# ------------------------------------------------------------------ for real
SIZE = 64 << 20  # 64 MiB: a write that takes tens of milliseconds, long enough to be killed in
WRITER = f"""
import sys
from pathlib import Path
from harness.files import write_bytes
data = b"n" * {SIZE}
print("go", flush=True)
write_bytes(Path(sys.argv[1]), data)
print("done", flush=True)
"""


def test_a_write_killed_midway_leaves_the_old_file_or_the_new_never_half(tmp_path: Path) -> None:
    target = tmp_path / "trials.csv"
    old, new = hashlib.sha256(b"o" * SIZE).hexdigest(), hashlib.sha256(b"n" * SIZE).hexdigest()
    seen = {"old": 0, "new": 0}
    half_written = 0  # kills that left a partial temporary file: the kill came mid-write
    for delay in (0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.5, 2.0):
        target.write_bytes(b"o" * SIZE)
        for stale in tmp_path.glob(".trials.csv.*"):
            stale.unlink()
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True,
                                cwd=ROOT)
        assert proc.stdout is not None and proc.stdout.readline() == "go\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        assert digest in (old, new), f"half a file after a kill at {delay} s"
        seen["old" if digest == old else "new"] += 1
        temps = list(tmp_path.glob(".trials.csv.*.tmp.csv"))
        half_written += any(0 < t.stat().st_size < SIZE for t in temps)
        assert digest == new or not temps or temps[0].stat().st_size <= SIZE
    assert half_written >= 1 and seen["old"] >= 1, seen  # some kills landed mid-write; the old file held
    proc = subprocess.run([sys.executable, "-c", WRITER, str(target)], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout == "go\ndone\n" and hashlib.sha256(target.read_bytes()).hexdigest() == new


def test_a_write_that_does_not_fit_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", 512) as disk:
        target = disk / "run.json"
        target.write_text('{"runs": []}')
        fill(disk, leave_kib=64)
        with pytest.raises(OSError) as err:
            write_bytes(target, b"x" * (200 << 10))
        assert err.value.errno == errno.ENOSPC and err.value.filename == str(target)
        assert target.read_text() == '{"runs": []}' and not temporary_path(target).exists()
        assert free_kib(disk) == 64  # what the partial temporary file took is free again
        log = disk / "study.journal"
        log.write_bytes(b'{"op_code": 0}\n')
        with pytest.raises(OSError, match="No space left on device") as err:
            append_bytes(log, b'{"op_code": 1, "value": "' + b"y" * (200 << 10) + b'"}\n')
        assert err.value.filename == str(log)
        assert log.read_bytes() == b'{"op_code": 0}\n' and os.path.getsize(log) == 15  # no torn record

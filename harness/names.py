"""Names made by others, in two directions: what a name read from the file system becomes when shown
or stored (`stored_name`, `printable`, `quoted`), and which names may become a folder of the results
(`check_folder_name`, the one check every study and ranking name goes through).

On Linux a file name is bytes; Python reads the bytes that are not UTF-8 as lone surrogates
("caf\\udce9"), which a UTF-8 file, page or terminal cannot hold. Their stored form writes each such
byte as a backslash escape ("caf\\xe9"): printable, and the same on every run, so a class folder keeps
its name across runs, tables and pages.
"""

from __future__ import annotations

from harness.errors import SettingError

NAME_MAX = 255  # bytes in one file name (ext4, xfs, btrfs, tmpfs, NTFS, APFS)
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def stored_name(name: str) -> str:
    """`name` with every byte that is not UTF-8 (a surrogate from os.fsdecode) as `\\xNN`; everything
    else kept as it is, newlines and quotes too (a CSV or JSON file quotes them)."""
    try:
        name.encode("utf-8")
        return name  # the common case: nothing to do
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def printable(name: str) -> str:
    """`name` as one line of text: its stored form with newlines, tabs and other control or invisible
    characters as escapes (for messages: a warning must stay one line)."""
    out = []
    for ch in stored_name(name):
        if ch.isprintable():
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def quoted(name: str) -> str:
    """`name` printable, in single quotes (as a message names a file or class)."""
    return f"'{printable(name)}'"


def check_folder_name(name: str, what: str = "study name", setting: str = "study_name") -> str:
    """`name` when it may be one folder inside the results folder, else a SettingError naming
    `setting` (the API's keyword that gives the name) and saying why: not empty, not `.` or `..`, no
    path separator (`/`, `\\`), no NUL or other control character, valid UTF-8, at most NAME_MAX
    bytes. HTML or quotes are allowed: every page escapes them."""
    shown = quoted(name[:80]) + ("..." if len(name) > 80 else "")
    problem = None
    if not name.strip():
        problem = "is empty"
    elif name in (".", ".."):
        problem = "is not a folder of its own (it names the results folder or the one above)"
    elif "/" in name or "\\" in name:
        problem = "holds a path separator (/ or \\); a study is one folder inside {results_dir}"
    elif any(not ch.isprintable() for ch in name):
        problem = "holds a control character (a NUL, newline or tab)" if stored_name(name) == name else (
            "is not valid UTF-8")
    elif len(name.encode("utf-8")) > NAME_MAX:
        problem = f"is {len(name.encode('utf-8'))} bytes long; a folder name may have at most {NAME_MAX}"
    if problem:
        raise SettingError(f"{what} {shown} {problem}; give another with {{{setting} NAME}}", setting, "results_dir")
    return name

"""Files a user names, for every path draftbench reads or writes: only regular files are read or replaced.

A results path, a report or a compare page may be a symlink: writing goes through it to the file it
names (the link stays a link, and the file it points at is the one that changes). A symlink loop, a
folder, a FIFO or a device node is refused before anything is read or written: a FIFO would hang a
reader, and replacing a device node with JSON destroys it. Writes are atomic: a temporary file in the
same folder, fsynced, then renamed over the target, so a crash leaves the old file or the new one."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from typing import Any

from ..errors import DraftbenchError, OutputFileError

MIN_FREE_BYTES = 16 * 2**20


def kind_problem(path: str) -> str | None:
    """Why an existing ``path`` is not a regular file (following symlinks), or None (also when absent, or a
    symlink to a file not there yet: reading says it is missing, writing creates it)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError:  # a loop, or a parent that is not a folder: the second is for the reader or writer to say
        return "a symlink that cannot be followed (a loop?)" if os.path.islink(path) else None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


class Unreadable(DraftbenchError):
    """A file to read is missing, not a regular file, or not UTF-8 text; ``why`` says which, for the caller's
    own message ("prompts: ... is a FIFO")."""

    def __init__(self, path: str, why: str, missing: bool = False):
        self.path, self.why, self.missing = path, why, missing
        super().__init__(f"{path}: {why}")


MAX_JSON_DEPTH = 64  # objects in lists in objects ...: draftbench's own files nest fewer than 10 deep


def parse_json(text: str) -> Any:
    """``json.loads``, with nesting too deep to read (Python's recursion limit, or ``MAX_JSON_DEPTH`` for what
    reads it afterwards) reported as a ``json.JSONDecodeError`` like any other malformed JSON."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply to read", text, 0) from None
    level, stack = 0, [(data, 1)]
    while stack:
        item, level = stack.pop()
        if level > MAX_JSON_DEPTH:
            raise json.JSONDecodeError(f"nested more than {MAX_JSON_DEPTH} levels deep", text, 0)
        if isinstance(item, (dict, list)):
            stack += [(v, level + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return data


def read_text(path: str) -> str:
    """A regular file's UTF-8 text; never opens a FIFO or a device (a reader would hang or consume it)."""
    odd = kind_problem(path)
    if odd:
        raise Unreadable(path, f"is {odd}, not a regular file")
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError as exc:
        raise Unreadable(path, "is not there (check the path)", missing=True) from exc
    except OSError as exc:
        raise Unreadable(path, f"cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise Unreadable(path, f"is not UTF-8 text (byte {exc.start}): save it as UTF-8") from exc


def output_target(path: str, flag: str = "--results") -> str:
    """The file to write for ``path``: itself, or what its symlink names. Refuses what is not a regular file."""
    why = kind_problem(path)
    if why:
        raise OutputFileError(f"{flag} {path} is {why}, not a regular file: give the path of a file to write")
    return os.path.realpath(path)


def same_file(a: str, b: str) -> bool:
    """Do the two paths name one file (the same path, a symlink to it, or a hard link of it)?"""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # either is not there yet: only the resolved paths could tell
        return False


def guard_outputs(outputs: list[tuple[str, str]], inputs: list[tuple[str, str]]) -> None:
    """Refuse before anything is written when an output (flag, path) is one of the command's inputs (what, path)
    or another of its outputs: it would be written over."""
    for i, (flag, path) in enumerate(outputs):
        for what, other in [*inputs, *outputs[:i]]:
            if path and other and same_file(path, other):
                raise OutputFileError(
                    f"{flag} {path} is the same file as {what} {other}: writing it would replace "
                    f"that file; give {flag} another path"
                )


def guard_report(path: str, flag: str = "--chart") -> None:
    """Refuse to replace an existing file that is not an HTML page (a config or results file named by mistake):
    a report is only ever written over an earlier report, or where nothing is."""
    if not os.path.isfile(path):  # not there, or not a regular file (a FIFO would block the read): output_target says
        return
    try:
        with open(path, "rb") as fh:
            head = fh.read(512).lstrip().lower()
    except OSError:
        return  # not readable: the write itself will say
    if head and not head.startswith((b"<!doctype html", b"<html")):
        raise OutputFileError(
            f"{flag} {path} exists and is not an HTML report: writing the report would replace it; "
            f"give {flag} another path (or delete that file first)"
        )


def check_writable(path: str, flag: str = "--results", what: str = "results") -> None:
    """Fail early when ``path`` cannot be written: not a regular file, a folder that refuses, a nearly full disk."""
    folder = os.path.dirname(output_target(path, flag))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".draftbench-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputFileError(f"cannot write {what} to {folder}: {exc.strerror}; choose another place with {flag} PATH") from exc
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise OutputFileError(f"only {free // 2**20} MiB free in {folder}: free some space or use {flag} PATH")


def _mode_for(path: str) -> int:
    """Keep an existing file's permissions; new files get the usual 0666 minus umask (not mkstemp's 0600)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


TEMP_PREFIX = ".draftbench-"  # then the writer's PID: a file whose writer is gone was left by a kill (SIGKILL)


def _clear_orphans(folder: str) -> None:
    """Remove the temporary files of writers that no longer run (killed mid-write); never another live one's."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(TEMP_PREFIX) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        pid = name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def write_text_atomic(path: str, text: str | list[str], flag: str = "--results") -> None:
    """Write ``text`` (or its parts, in order) to ``path`` (through a symlink) in one step: a reader sees the old
    file or the new one."""
    target = output_target(path, flag)
    folder = os.path.dirname(target)
    try:
        os.makedirs(folder, exist_ok=True)
        _clear_orphans(folder)
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=".tmp", dir=folder)
    except OSError as exc:  # a read-only or missing folder, a full disk: nothing was written, nothing replaced
        raise OutputFileError(f"cannot write {path}: {exc.strerror} in {folder}; choose another place with {flag} PATH") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines([text] if isinstance(text, str) else text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputFileError(
                f"cannot write {path}: {exc.strerror}; the previous version is intact: free "
                f"some space or choose another place with {flag} PATH"
            ) from exc
        raise


def write_json_atomic(path: str, data: Any, flag: str = "--results") -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", flag)

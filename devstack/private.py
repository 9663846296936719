"""The local state directory (``.tailorcast/``) is the developer's only: folders 0700, files 0600.

It holds signing keys, the sealing key's material and everything the local AWS stores (webhook
secrets, prospects' personal data), so nothing in it may be readable by other users of the
machine. Modes are set explicitly, whatever the process's umask; :func:`tighten` fixes what an
older version left world-readable.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Any

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` as 0700, and each missing parent as 0700 too; an existing ``path`` is set
    to 0700 (existing parents are left as they are: the project folder is not ours to change)."""
    missing = [] if path.is_dir() else [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
    os.chmod(path, DIR_MODE)
    return path


def open_private(path: Path, mode: str = "w", encoding: str | None = "utf-8") -> IO[Any]:
    """Open ``path`` like :func:`open` (``w``, ``a``, ``wb``, ``ab``), created 0600 and set 0600
    if it existed with another mode."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode, encoding=None if "b" in mode else encoding)
    except BaseException:
        os.close(fd)
        raise


def write_private(path: Path, data: bytes | str) -> None:
    """Replace ``path`` atomically with ``data``, 0600 (its folder is created 0700)."""
    private_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    raw = data.encode() if isinstance(data, str) else data
    with open_private(tmp, "wb") as fh:
        fh.write(raw)
    os.replace(tmp, path)


def tighten(root: Path) -> int:
    """Set every folder under ``root`` (itself included) to 0700 and every file to 0600; links
    are left alone. Returns how many modes were changed."""
    if not root.exists():
        return 0
    changed = 0
    for folder, _, files in os.walk(root):  # links to folders are not followed
        here = Path(folder)
        for path, wanted in [(here, DIR_MODE), *((here / name, FILE_MODE) for name in files)]:
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) == wanted:
                continue
            os.chmod(path, wanted)
            changed += 1
    return changed

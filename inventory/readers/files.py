"""What FTP and SFTP have in common: a remote path that is either one file or a glob."""

from __future__ import annotations

import fnmatch
import posixpath

GLOB_CHARS = set("*?[")


def split_remote_path(remote_path: str) -> tuple[str, str]:
    """(directory, file name or pattern). A bare name lives in the login directory."""
    path = (remote_path or "").strip()
    directory, name = posixpath.split(path)
    return directory or ".", name


def is_glob(name: str) -> bool:
    return bool(GLOB_CHARS & set(name))


def newest(entries: list[tuple[str, float]], pattern: str) -> str | None:
    """The matching name with the latest modification time (the name breaks ties, so
    stock_20261120.csv beats stock_20261119.csv uploaded in the same second)."""
    matching = [(mtime, name) for name, mtime in entries if fnmatch.fnmatchcase(name, pattern)]
    if not matching:
        return None
    return max(matching)[1]

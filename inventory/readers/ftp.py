"""Scheduled files over FTP (stdlib ftplib, passive mode).

The remote path is a file or a glob; for a glob the newest match (MLSD `modify`, falling back to
MDTM) is the current snapshot. The file is downloaded whole and hashed; whether that name and
checksum were applied before is the service's business.
"""

from __future__ import annotations

import ftplib
import io
import posixpath
from datetime import UTC, datetime

from .base import Document, FileConfig, ReaderError
from .files import is_glob, newest, split_remote_path


def fetch(config: FileConfig) -> Document:
    ftp = ftplib.FTP()  # noqa: S321 - plain FTP is what these merchants' ERPs offer; SFTP is the other kind
    try:
        try:
            ftp.connect(config.host, config.port or 21, timeout=config.timeout)
            ftp.login(config.username or "anonymous", config.password or "")
            ftp.set_pasv(True)
            directory, name = split_remote_path(config.remote_path)
            if is_glob(name):
                entries = _listing(ftp, directory)
                chosen = newest(entries, name)
                if chosen is None:
                    raise ReaderError(f"No file on {config.host} matches {config.remote_path}")
                name = chosen
            path = posixpath.join(directory, name) if directory != "." else name
            buffer = io.BytesIO()
            ftp.retrbinary(f"RETR {path}", buffer.write)
        except ftplib.error_perm as exc:
            raise ReaderError(f"FTP {config.host}: {str(exc).strip()}") from exc
        except (ftplib.Error, OSError, EOFError) as exc:
            raise ReaderError(f"FTP {config.host}:{config.port or 21}: {exc.__class__.__name__}: {exc}") from exc
    finally:
        try:
            ftp.quit()
        except (ftplib.Error, OSError, EOFError, AttributeError):
            ftp.close()
    return Document(name=path, data=buffer.getvalue(), data_format=config.data_format)


def _listing(ftp: ftplib.FTP, directory: str) -> list[tuple[str, float]]:
    """(name, mtime) of the files in `directory`: MLSD where the server has it, else NLST+MDTM."""
    try:
        return [
            (name, _mtime(facts.get("modify")))
            for name, facts in ftp.mlsd(directory, facts=["type", "modify", "size"])
            if facts.get("type", "file") == "file"
        ]
    except ftplib.error_perm:
        pass
    entries = []
    for path in ftp.nlst(directory):
        name = posixpath.basename(path)
        try:
            stamp = ftp.sendcmd(f"MDTM {posixpath.join(directory, name)}").split()[-1]
        except ftplib.error_perm:
            continue  # directories have no MDTM
        entries.append((name, _mtime(stamp)))
    return entries


def _mtime(stamp: str | None) -> float:
    """FTP's YYYYMMDDHHMMSS[.sss] (UTC) as a timestamp; 0 when absent."""
    if not stamp:
        return 0.0
    try:
        return datetime.strptime(stamp[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0

"""Scheduled files over SFTP (paramiko).

Host keys are pinned: the source stores the server's key ("ssh-ed25519 AAAA...") and a server
presenting another key is refused before any credential is sent. A source with no key yet
trusts the first one it sees and the service stores it (trust on first use), so every later
connection is checked.
"""

from __future__ import annotations

import io
import posixpath
import socket
import stat

import paramiko

from .base import Document, FileConfig, ReaderError
from .files import is_glob, newest, split_remote_path

KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


def host_key_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def load_private_key(text: str) -> paramiko.PKey:
    for key_class in KEY_CLASSES:
        try:
            return key_class.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise ReaderError("The private key is not an Ed25519, ECDSA or RSA key in PEM/OpenSSH format")


def fetch(config: FileConfig) -> Document:
    port = config.port or 22
    try:
        sock = socket.create_connection((config.host, port), timeout=config.timeout)
    except OSError as exc:
        raise ReaderError(f"SFTP {config.host}:{port}: {exc.__class__.__name__}: {exc}") from exc
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = transport.auth_timeout = config.timeout
        transport.start_client(timeout=config.timeout)
        seen_key = host_key_line(transport.get_remote_server_key())
        if config.host_key and config.host_key.split()[:2] != seen_key.split()[:2]:
            raise ReaderError(
                f"SFTP {config.host}: the server's host key changed (pinned {config.host_key.split()[0]}, "
                f"got {seen_key.split()[0]}). If the server was re-keyed, clear the pinned key on the source."
            )
        if config.private_key:
            transport.auth_publickey(config.username, load_private_key(config.private_key))
        else:
            transport.auth_password(config.username, config.password)
        sftp = paramiko.SFTPClient.from_transport(transport)
        if sftp is None:
            raise ReaderError(f"SFTP {config.host}: the server refused the SFTP subsystem")
        sftp.get_channel().settimeout(config.timeout)
        directory, name = split_remote_path(config.remote_path)
        if is_glob(name):
            entries = [
                (entry.filename, float(entry.st_mtime or 0))
                for entry in sftp.listdir_attr(directory)
                if entry.st_mode is None or stat.S_ISREG(entry.st_mode)
            ]
            chosen = newest(entries, name)
            if chosen is None:
                raise ReaderError(f"No file on {config.host} matches {config.remote_path}")
            name = chosen
        path = posixpath.join(directory, name) if directory != "." else name
        buffer = io.BytesIO()
        sftp.getfo(path, buffer)
    except paramiko.AuthenticationException as exc:
        raise ReaderError(f"SFTP {config.host}: login refused for {config.username!r}") from exc
    except FileNotFoundError as exc:
        raise ReaderError(f"SFTP {config.host}: no file {config.remote_path}") from exc
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise ReaderError(f"SFTP {config.host}:{port}: {exc.__class__.__name__}: {exc}") from exc
    finally:
        transport.close()
    return Document(name=path, data=buffer.getvalue(), data_format=config.data_format, host_key=seen_key)

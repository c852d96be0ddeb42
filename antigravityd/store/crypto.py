"""OAuth tokens encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``).

The key file holds one Fernet key per line (``#`` comments allowed). The **first** key encrypts; every key
decrypts. That is what makes rotation safe and restartable:

1. ``keys rotate`` writes ``new`` above the old key(s) — tokens stay readable by every process;
2. it re-encrypts every stored token with ``new`` in one transaction;
3. it rewrites the file with ``new`` alone.

A crash between the steps leaves a file that still reads everything; running the command again finishes the job.
Running daemons notice the changed file (size/mtime/inode) on their next token operation and reload it.

With a configured path (e.g. ``$CREDENTIALS_DIRECTORY/token.key`` from systemd ``LoadCredential=``) the file is
only read; rotation then means: the operator installs a file whose first line is the new key and second line the
old one, runs ``keys rotate`` (re-encrypts), and finally drops the old line. Only the default path in the data
directory is ever generated (mode 0600) or rewritten by us.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from antigravityd.store.errors import StoreError

__all__ = ["KEY_FILE_NAME", "KeyFileError", "TokenCipher", "generate_key", "resolve_key_file", "write_key_file"]

KEY_FILE_NAME = "token.key"


class KeyFileError(StoreError):
    """The key file is missing, unreadable, malformed, or does not decrypt the stored tokens."""


def generate_key() -> bytes:
    return Fernet.generate_key()


def _parse(text: str, path: Path) -> list[bytes]:
    keys = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            Fernet(line.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise KeyFileError(f"{path}:{n}: not a Fernet key (32 url-safe base64 bytes)") from None
        keys.append(line.encode("ascii"))
    if not keys:
        raise KeyFileError(f"{path}: no key in file")
    return keys


def write_key_file(path: Path, keys: Sequence[bytes]) -> None:
    """Atomically replace ``path`` with ``keys`` (mode 0600, fsynced)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    body = b"# antigravityd token key(s): the first encrypts, all decrypt. Keep a backup.\n" + b"".join(
        k + b"\n" for k in keys
    )
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _create_once(path: Path) -> None:
    """Create the default key file unless it exists, without racing another process doing the same."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    write_key_file(tmp, [generate_key()])
    try:
        os.link(tmp, path)  # fails if someone else created it first: then theirs wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def resolve_key_file(token_key_file: str, data_dir: Path) -> tuple[Path, bool]:
    """The key file path and whether it is ours to generate/rewrite (only the default in the data dir is)."""
    if token_key_file:
        return Path(os.path.expandvars(token_key_file)).expanduser(), False
    return data_dir / KEY_FILE_NAME, True


class TokenCipher:
    """Encrypts and decrypts token strings with the keys of one key file, reloading the file when it changes."""

    def __init__(self, path: Path, *, managed: bool) -> None:
        self.path = path
        self.managed = managed  # True: the default file in the data dir, which we may create and rewrite
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._keys: list[bytes] = []
        self._fernet: MultiFernet | None = None

    @classmethod
    def load(cls, token_key_file: str, data_dir: Path) -> TokenCipher:
        path, managed = resolve_key_file(token_key_file, data_dir)
        if managed and not path.exists():
            _create_once(path)
        cipher = cls(path, managed=managed)
        cipher.reload()
        return cipher

    def _stat(self) -> tuple[int, int, int]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            raise KeyFileError(
                f"token key file {self.path} does not exist; set security.token_key_file to an existing file"
                if not self.managed
                else f"token key file {self.path} disappeared; restore it from a backup"
            ) from None
        except OSError as e:
            raise KeyFileError(f"cannot read token key file {self.path}: {e.strerror}") from None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def reload(self) -> None:
        with self._lock:
            stamp = self._stat()
            if stamp == self._stamp:
                return
            try:
                text = self.path.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as e:
                raise KeyFileError(f"cannot read token key file {self.path}: {e}") from None
            self._keys = _parse(text, self.path)
            self._fernet = MultiFernet([Fernet(k) for k in self._keys])
            self._stamp = stamp

    @property
    def keys(self) -> list[bytes]:
        self.reload()
        return list(self._keys)

    def _current(self) -> MultiFernet:
        self.reload()
        assert self._fernet is not None
        return self._fernet

    def encrypt(self, plaintext: str) -> str:
        return self._current().encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, blob: str) -> str:
        try:
            return self._current().decrypt(blob.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise KeyFileError(
                f"a stored token cannot be decrypted with the keys in {self.path}: wrong or rotated-away key"
            ) from None

    def reencrypt(self, blob: str) -> str:
        """Decrypt with any key, encrypt with the first one (a no-op in meaning, a new ciphertext)."""
        try:
            return self._current().rotate(blob.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise KeyFileError(f"a stored token cannot be decrypted with the keys in {self.path}") from None

    def primary_decrypts(self, blob: str) -> bool:
        """Whether the first key alone reads ``blob`` (after a rotation every token must pass this)."""
        try:
            Fernet(self.keys[0]).decrypt(blob.encode("ascii"))
        except InvalidToken:
            return False
        return True

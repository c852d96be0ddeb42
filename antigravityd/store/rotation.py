"""Token-key rotation, restartable at every step (see the module docstring of ``crypto.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import trio

from antigravityd.store.base import Repository
from antigravityd.store.crypto import KeyFileError, TokenCipher, generate_key, write_key_file

__all__ = ["RotationResult", "rotate_keys"]


@dataclass(frozen=True, slots=True)
class RotationResult:
    tokens: int  # accounts whose tokens were re-encrypted
    old_keys_left: int  # keys other than the new one still in the file (0 when we rewrote it ourselves)


async def rotate_keys(repo: Repository, cipher: TokenCipher) -> RotationResult:
    """Re-encrypt every stored token with a new key.

    Managed key file (the default in the data dir): generate a key, put it first, re-encrypt, drop the old keys.
    Configured key file (read-only, e.g. a systemd credential): the operator has already put the new key on the
    first line and kept the old one below; we re-encrypt with the first key and report how many old keys the
    operator can now remove.
    """
    if cipher.managed:
        old = await trio.to_thread.run_sync(lambda: cipher.keys)
        new = generate_key()
        await trio.to_thread.run_sync(write_key_file, cipher.path, [new, *old])
        await trio.to_thread.run_sync(cipher.reload)
        count = await repo.rotate_token_key(cipher)
        await trio.to_thread.run_sync(write_key_file, cipher.path, [new])
        await trio.to_thread.run_sync(cipher.reload)
        return RotationResult(count, 0)
    keys = await trio.to_thread.run_sync(lambda: cipher.keys)
    if len(keys) < 2:
        raise KeyFileError(
            f"{cipher.path} is not ours to rewrite and holds a single key: put a new key (`antigravityd keys "
            "generate`) on its first line, keep the old key on the second, run `keys rotate`, then remove the old line"
        )
    count = await repo.rotate_token_key(cipher)
    return RotationResult(count, len(keys) - 1)

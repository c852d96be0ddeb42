"""Token encryption at rest: key file handling, wrong keys refused, rotation."""

from __future__ import annotations

import os
import stat

import pytest

from antigravityd.store import AccountDraft, KeyFileError, TokenCipher, open_repository
from antigravityd.store.crypto import generate_key, write_key_file
from antigravityd.store.rotation import rotate_keys


def test_default_key_is_generated_private_and_reused(tmp_path):
    c1 = TokenCipher.load("", tmp_path)
    path = tmp_path / "token.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and c1.managed
    blob = c1.encrypt("1//secret")
    assert "secret" not in blob
    assert TokenCipher.load("", tmp_path).decrypt(blob) == "1//secret"


def test_configured_key_file_must_exist_and_may_be_read_only(tmp_path):
    with pytest.raises(KeyFileError, match="does not exist"):
        TokenCipher.load(str(tmp_path / "missing.key"), tmp_path)
    assert not (tmp_path / "missing.key").exists()  # never generated at a configured path
    path = tmp_path / "cred" / "token.key"
    path.parent.mkdir()
    write_key_file(path, [generate_key()])
    path.chmod(0o400)
    path.parent.chmod(0o500)  # like $CREDENTIALS_DIRECTORY
    try:
        c = TokenCipher.load(str(path), tmp_path)
        assert not c.managed and c.decrypt(c.encrypt("x")) == "x"
    finally:
        path.parent.chmod(0o700)


def test_garbage_key_file_is_a_clear_error(tmp_path):
    (tmp_path / "k").write_text("# comment only\n")
    with pytest.raises(KeyFileError, match="no key"):
        TokenCipher.load(str(tmp_path / "k"), tmp_path)
    (tmp_path / "k").write_text("not-a-key\n")
    with pytest.raises(KeyFileError, match="not a Fernet key"):
        TokenCipher.load(str(tmp_path / "k"), tmp_path)


async def test_a_different_key_is_refused_at_open(database_url, data_dir, tmp_path):
    repo = await open_repository(database_url, data_dir=data_dir)
    await repo.create_account(AccountDraft(email="a@example.com", refresh_token="1//a"))
    await repo.aclose()
    other = tmp_path / "other.key"
    write_key_file(other, [generate_key()])
    with pytest.raises(KeyFileError, match="not the key"):
        await open_repository(database_url, data_dir=data_dir, token_key_file=str(other))


async def test_rotation_of_the_managed_key(database_url, data_dir):
    repo = await open_repository(database_url, data_dir=data_dir)
    try:
        a = await repo.create_account(AccountDraft(email="a@example.com", refresh_token="1//a", access_token="ya29.a",
                                                   expires_at=2e9))
        old_key = (data_dir / "token.key").read_text()
        cipher = TokenCipher.load("", data_dir)
        result = await rotate_keys(repo, cipher)
        assert (result.tokens, result.old_keys_left) == (1, 0)
        assert (data_dir / "token.key").read_text() != old_key and len(cipher.keys) == 1
        creds = await repo.get_credentials(a.id)
        assert (creds.refresh_token, creds.access_token) == ("1//a", "ya29.a")
    finally:
        await repo.aclose()
    # a fresh process with only the new key reads everything
    repo = await open_repository(database_url, data_dir=data_dir)
    try:
        assert (await repo.get_credentials(a.id)).refresh_token == "1//a"
    finally:
        await repo.aclose()


async def test_rotation_with_an_operator_supplied_key_file(database_url, data_dir, tmp_path):
    key_file = tmp_path / "token.key"
    old, new = generate_key(), generate_key()
    write_key_file(key_file, [old])
    repo = await open_repository(database_url, data_dir=data_dir, token_key_file=str(key_file))
    try:
        a = await repo.create_account(AccountDraft(email="a@example.com", refresh_token="1//a"))
        cipher = TokenCipher.load(str(key_file), data_dir)
        with pytest.raises(KeyFileError, match="single key"):
            await rotate_keys(repo, cipher)
        write_key_file(key_file, [new, old])  # the operator installs new-then-old
        result = await rotate_keys(repo, cipher)
        assert (result.tokens, result.old_keys_left) == (1, 1)
    finally:
        await repo.aclose()
    write_key_file(key_file, [new])  # ... and drops the old key
    repo = await open_repository(database_url, data_dir=data_dir, token_key_file=str(key_file))
    try:
        assert (await repo.get_credentials(a.id)).refresh_token == "1//a"
    finally:
        await repo.aclose()


def test_running_process_follows_a_rewritten_key_file(tmp_path):
    c = TokenCipher.load("", tmp_path)
    blob = c.encrypt("1//x")
    new = generate_key()
    write_key_file(tmp_path / "token.key", [new, *c.keys])
    other = TokenCipher.load("", tmp_path)
    assert other.primary_decrypts(other.encrypt("y"))
    assert c.keys[0] == new  # reloaded on change
    assert c.decrypt(blob) == "1//x"
    assert os.stat(tmp_path / "token.key").st_mode & 0o077 == 0

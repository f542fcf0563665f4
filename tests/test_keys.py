"""Key type detection, the hint, and encryption at rest."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app.anthropic.keys import KeyFormatError, KeyKind, check_admin_key, classify_key
from app.keystore import KeyDecryptError, KeyStore, MasterKeyError, key_hint
from app.settings import Settings

ADMIN = "sk-ant-admin01-" + "Ab3_-x" * 15 + "AbCd"


@pytest.mark.parametrize(
    ("key", "kind", "says"),
    [
        ("sk-ant-api03-" + "x" * 90, KeyKind.REGULAR, "regular Claude API key"),
        ("sk-ant-api01-" + "x" * 90, KeyKind.ENTERPRISE, "Claude Enterprise"),
        ("sk-ant-oat01-" + "x" * 40, KeyKind.OAUTH, "OAuth access token"),
        ("hello", KeyKind.UNKNOWN, "does not look like an Anthropic Admin API key"),
        ("", KeyKind.UNKNOWN, "No key was given"),
        ("sk-ant-admin01-abc def ghij", KeyKind.UNKNOWN, "contains spaces"),
    ],
)
def test_wrong_keys_are_refused_with_what_they_are(key: str, kind: KeyKind, says: str) -> None:
    with pytest.raises(KeyFormatError) as caught:
        check_admin_key(key)
    assert caught.value.kind is kind
    assert says in str(caught.value)
    # Every refusal says where the right key comes from, and never echoes the pasted secret.
    assert "Settings > Admin keys" in str(caught.value)
    if len(key) > 20:
        assert key[15:] not in str(caught.value)


def test_admin_key_is_trimmed_and_accepted() -> None:
    assert check_admin_key(f"  {ADMIN}\n") == ADMIN
    assert classify_key(ADMIN) is KeyKind.ADMIN


def test_hint_shows_only_prefix_and_last_four() -> None:
    assert key_hint(ADMIN) == "sk-ant-admin01-…AbCd"


def test_encryption_round_trip_and_no_plain_text() -> None:
    store = KeyStore([Fernet.generate_key()])
    token = store.encrypt(ADMIN)
    assert ADMIN not in token and ADMIN[15:40] not in token
    assert store.decrypt(token) == ADMIN


def test_tampered_ciphertext_fails_closed() -> None:
    store = KeyStore([Fernet.generate_key()])
    token = store.encrypt(ADMIN)
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(KeyDecryptError, match="could not be decrypted"):
        store.decrypt(tampered)


def test_old_master_key_still_decrypts_after_adding_a_new_one() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    token = KeyStore([old]).encrypt(ADMIN)
    assert KeyStore([new, old]).decrypt(token) == ADMIN


def test_master_key_file_is_created_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FINOPS_MASTER_KEY", raising=False)
    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path / "data"))
    store = KeyStore.from_settings(Settings())
    path = tmp_path / "data" / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The same file is used next time: what was encrypted stays readable.
    assert KeyStore.from_settings(Settings()).decrypt(store.encrypt(ADMIN)) == ADMIN


def test_malformed_master_key_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINOPS_MASTER_KEY", "changeme")
    with pytest.raises(MasterKeyError, match="not a valid Fernet key"):
        KeyStore.from_settings(Settings())

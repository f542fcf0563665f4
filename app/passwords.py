"""Password hashing with scrypt (memory-hard) from `cryptography`, a salt per user."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

# About 16 MiB and tens of milliseconds per hash: slow for a guesser, quick for a sign-in.
N, R, P = 2**14, 8, 1
LENGTH = 32
MIN_LENGTH = 12


class WeakPassword(ValueError):
    """The password does not meet the minimum; the message says what is needed."""


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters for the password.")
    if password.strip() != password or not password.strip():
        raise WeakPassword("The password must not start or end with spaces.")


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` with url-safe base64 parts."""
    salt = os.urandom(16)
    digest = Scrypt(salt=salt, length=LENGTH, n=N, r=R, p=P).derive(password.encode())
    parts = [base64.urlsafe_b64encode(x).decode() for x in (salt, digest)]
    return f"scrypt${N}${R}${P}${parts[0]}${parts[1]}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; False for anything malformed."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        kdf = Scrypt(
            salt=base64.urlsafe_b64decode(salt), length=LENGTH, n=int(n), r=int(r), p=int(p)
        )
        kdf.verify(password.encode(), base64.urlsafe_b64decode(digest))
    except (ValueError, InvalidKey):
        return False
    return True

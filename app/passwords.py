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


# The bases of the passwords guessers try first (lists of leaked passwords are topped by these,
# with digits or a symbol added): refused alone or with only digits and symbols around them.
COMMON = frozenset(
    """
    password passw0rd p@ssword p@ssw0rd qwerty qwertz azerty letmein welcome admin
    administrator root toor iloveyou monkey dragon football baseball basketball soccer hockey
    sunshine princess master shadow superman batman trustno1 changeme secret default login
    abc123 starwars whatever freedom hello charlie michael jennifer jordan computer internet
    mustang access flower cheese summer winter spring autumn lovely ninja pokemon killer
    hunter ranger harley thomas robert daniel matthew anthony joshua andrew buster tigger
    soccer1 google yahoo microsoft apple samsung linux ubuntu test tester testing guest user
    anthropic claude finops dashboard
    """.split()  # noqa: SIM905 (a word list reads better as words)
)
# Keyboard rows, the alphabet and the digits, each twice so a run may wrap round (``...890123``).
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz" * 2,
    "0123456789" * 3,
    "qwertyuiopasdfghjklzxcvbnm" * 2,
    "qwertzuiopasdfghjklyxcvbnm" * 2,
    "azertyuiopqsdfghjklmwxcvbn" * 2,
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p" * 2,
    "!@#$%^&*()" * 3,
)
_SHORT_PATTERN = 4  # a unit this short, repeated, is a pattern, not a password


def check_strength(password: str, *, email: str | None = None) -> None:
    """Refuse a password a guesser would try early, saying why: too short, padded with spaces,
    one of the most common ones, a keyboard or alphabet run, a short pattern repeated, or the
    account's own email address."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters for the password.")
    if password.strip() != password or not password.strip():
        raise WeakPassword("The password must not start or end with spaces.")
    lowered = password.lower()
    if _repeats(lowered):
        raise WeakPassword(
            "The password repeats one character or a short pattern; "
            "use a few unrelated words instead."
        )
    if _is_sequence(lowered):
        raise WeakPassword(
            "The password is a simple sequence (like 123456 or qwerty) that "
            "guessers try first; use a few unrelated words instead."
        )
    if email and _mostly(lowered, {email.strip().lower(), email.strip().lower().split("@")[0]}):
        raise WeakPassword("The password must not be built on the account's email address.")
    if _mostly(lowered, COMMON):
        raise WeakPassword(
            "The password is one of the most common ones (a common word with digits or "
            "symbols added); use a few unrelated words instead."
        )


def _repeats(text: str) -> bool:
    """``aaaa…``, ``abcabc…``, ``1212…``: a unit of at most four characters over and over."""
    for size in range(1, _SHORT_PATTERN + 1):
        unit = text[:size]
        if (unit * (len(text) // size + 1))[: len(text)] == text:
            return True
    return False


def _is_sequence(text: str) -> bool:
    """A run along the keyboard, the alphabet or the digits, forwards or backwards, or runs
    of them one after the other (``qwertyuiop123``, ``zaq12wsxcde3``): guessed as early."""
    start = 0
    while start < len(text):
        # The longest run from here; fewer than three characters is not a run.
        ends = range(len(text), start + 2, -1)
        end = next((e for e in ends if _in_a_run(text[start:e])), None)
        if end is None:
            return False
        start = end
    return bool(text)


def _in_a_run(text: str) -> bool:
    return any(text in run or text in run[::-1] for run in _SEQUENCES)


def _mostly(text: str, words: set[str] | frozenset[str]) -> bool:
    """True when ``text`` is one of ``words`` with little more than digits, symbols or a run
    around it (``Password2024!``, ``johnsmith123``): what is left would be guessed in seconds."""
    for word in words:
        if len(word) < 3 or word not in text:
            continue
        rest = "".join(part for part in text.split(word) if part)
        letters = sum(c.isalpha() for c in rest)
        if letters < 3 or _repeats(rest) or _is_sequence(rest):
            return True
    return False


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

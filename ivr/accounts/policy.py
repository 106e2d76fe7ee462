"""The password rule: long enough, not too long, and hard to guess by zxcvbn's estimate.

zxcvbn (Dropbox's estimator, the maintained Python port) scores a password 0–4 from the number
of guesses an attacker who knows common passwords, words, names, keyboard walks, repeats,
sequences and dates would need; the account's own user name and display name count as known.
Required: score ≥ ``MIN_SCORE`` (3: about 10⁸ guesses or more — "safely unguessable" for an
online attack that the sign-in throttle slows further). ``aaaaaaaaaa``, ``Password123!`` and
``zhangwei2026`` are refused; four random words or 12 random characters pass. The upper bound
keeps scrypt's input (and zxcvbn's work, which grows with length) small."""

from __future__ import annotations

from zxcvbn import zxcvbn

from ivr.core.errors import InvalidAccount, WeakPassword

MIN_PASSWORD = 10
MAX_PASSWORD = 128
MIN_SCORE = 3


def check_password(password: object, *known: str) -> str:
    """``password`` if it meets the rule, else InvalidAccount naming why (field ``password``)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidAccount(f"the password needs at least {MIN_PASSWORD} characters",
                             {"field": "password"})
    if len(password) > MAX_PASSWORD:
        raise InvalidAccount(f"the password may have at most {MAX_PASSWORD} characters",
                             {"field": "password"})
    # (zxcvbn refuses more than 72 characters unless told: its work grows with the length)
    result = zxcvbn(password, user_inputs=[k for k in (*known, "ivr") if k],
                    max_length=MAX_PASSWORD)
    if result["score"] < MIN_SCORE:
        feedback = result.get("feedback") or {}
        hint = feedback.get("warning") or " ".join(feedback.get("suggestions") or []) or \
            "add more words or characters"
        raise WeakPassword(f"the password is too easy to guess: {hint}",
                             {"field": "password", "score": result["score"]})
    return password

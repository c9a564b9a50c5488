"""Password hashing with argon2 through the passlib API (package ``libpass[argon2]``)."""

from __future__ import annotations

import asyncio
import os

from passlib.context import CryptContext

from chat.errors import Invalid

MIN_LENGTH = 8
MAX_LENGTH = 256  # longer inputs are refused before any hashing work

# argon2id with passlib's defaults (64 MiB, 3 passes). CHAT_ARGON2_PROFILE=fast
# makes hashing cheap for the test suite only; never set it on a server.
if os.environ.get("CHAT_ARGON2_PROFILE") == "fast":
    _context = CryptContext(schemes=["argon2"], argon2__memory_cost=1024, argon2__rounds=1, argon2__parallelism=1)
else:
    _context = CryptContext(schemes=["argon2"], deprecated="auto")

# Verified against when the account does not exist, so an unknown user costs
# as much time as a wrong password and the two cannot be told apart.
_DUMMY_HASH = _context.hash("salon-timing-equaliser")


def check_new_password(password: str) -> None:
    if len(password) > MAX_LENGTH:
        raise Invalid("password_too_long", f"the password is longer than {MAX_LENGTH} characters", field="password")
    if len(password) < MIN_LENGTH:
        raise Invalid("password_too_short", f"the password needs at least {MIN_LENGTH} characters", field="password")


def hash_password(password: str) -> str:
    check_new_password(password)
    hashed: str = _context.hash(password)
    return hashed


def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Check a password; returns (ok, a new hash if the stored one should be upgraded).

    A missing hash (unknown user, bot) still spends the time of a real check.
    An over-long password is rejected without hashing.
    """
    if len(password) > MAX_LENGTH:
        return False, None
    if password_hash is None:
        _context.verify(password, _DUMMY_HASH)
        return False, None
    ok, new_hash = _context.verify_and_update(password, password_hash)
    return bool(ok), new_hash


async def hash_password_async(password: str) -> str:
    """``hash_password`` off the event loop (argon2 releases the GIL)."""
    check_new_password(password)
    return await asyncio.to_thread(_context.hash, password)


async def verify_password_async(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    if len(password) > MAX_LENGTH:
        return False, None
    return await asyncio.to_thread(verify_password, password, password_hash)

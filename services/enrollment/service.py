"""Enrollment business rules: pure functions, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import operator
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.business_time import business_today

# GB 11643-1999: weights and check characters of the ISO 7064 MOD 11-2 check digit.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
# 省级行政区划代码 (GB/T 2260): the first two digits of every resident ID issued in the mainland.
# 华北 11-15, 东北 21-23, 华东 31-37, 中南 41-46, 西南 50-54, 西北 61-65.
PROVINCE_CODES = frozenset(
    f"{n}"
    for n in (
        *range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66),
    )
)  # fmt: skip
# ASCII only: str.isdigit() would also accept "١" or "²".
_ID_FORMAT = re.compile(r"[0-9]{17}[0-9X]")
EARLIEST_BIRTH_YEAR = 1900


class InvalidIdNumber(ValueError):
    """A resident ID (公民身份号码) that fails validation; `part` names the failing part."""

    part: ClassVar[str] = "id_number"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class IdLengthError(InvalidIdNumber):
    """Not 18 characters."""

    part = "length"


class IdFormatError(InvalidIdNumber):
    """Not 17 ASCII digits followed by a digit or X."""

    part = "format"


class IdRegionError(InvalidIdNumber):
    """地址码: unknown province, or no county-level code."""

    part = "region"


class IdBirthDateError(InvalidIdNumber):
    """出生日期码: not a calendar date, in the future, or before 1900."""

    part = "birth_date"


class IdCheckDigitError(InvalidIdNumber):
    """校验码: the ISO 7064 MOD 11-2 check character does not match."""

    part = "check_digit"


@dataclass(frozen=True)
class ResidentId:
    """A validated 18-character 公民身份号码."""

    number: str
    region_code: str
    birth_date: date
    sex: str  # "M" | "F", from the parity of the sequence code (顺序码)

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)


def check_character(first17: str) -> str:
    total = sum(map(operator.mul, map(int, first17), _WEIGHTS))  # 17 digits (the caller checked), 17 weights
    return _CHECK_CHARS[total % 11]


def parse_id_number(raw: str, *, today: date | None = None) -> ResidentId:
    """Validate format, region, birth date and check digit; the exception's type and `part` say which is wrong.

    Surrounding spaces are ignored and a lowercase x check character is read as X.
    """
    number = raw.strip()
    if len(number) != 18:
        raise IdLengthError(f"a resident ID has 18 characters, this one has {len(number)}")
    if number[17] == "x":
        number = number[:17] + "X"
    if not _ID_FORMAT.fullmatch(number):
        raise IdFormatError("the first 17 characters must be digits and the last a digit or X")
    region = number[:6]
    if region[:2] not in PROVINCE_CODES:
        raise IdRegionError(f"{region[:2]} is not a province code")
    if region[4:] == "00":
        raise IdRegionError(f"{region} is not a county-level region code")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise IdBirthDateError(f"{number[6:14]} is not a real date") from exc
    if birth.year < EARLIEST_BIRTH_YEAR:
        raise IdBirthDateError(f"birth date {birth.isoformat()} is before {EARLIEST_BIRTH_YEAR}")
    if birth > (today or business_today()):
        raise IdBirthDateError(f"birth date {birth.isoformat()} is in the future")
    if number[17] != check_character(number[:17]):
        raise IdCheckDigitError("the check digit does not match (ISO 7064 MOD 11-2)")
    sex = "M" if int(number[16]) % 2 == 1 else "F"
    return ResidentId(number=number, region_code=region, birth_date=birth, sex=sex)


def mask_id_number(number: str) -> str:
    """350582********123X: region code and last four only."""
    return number[:6] + "*" * 8 + number[-4:]


def id_hash(number: str, key: str) -> str:
    """Keyed hash for look-up; without the key the ID cannot be recovered or confirmed."""
    return hmac.new(key.encode(), number.encode(), hashlib.sha256).hexdigest()


# Encrypted copy of the ID (身份证号密文): AES-256-GCM, key derived from the configured secret by HKDF.
# Layout: version byte, 12-byte random nonce, ciphertext with its 16-byte tag.
_CIPHER_VERSION = b"\x01"
_NONCE_BYTES = 12
_KEY_INFO = b"yibao/enrollment/id-number/aes-256-gcm/v1"
_ASSOCIATED_DATA = b"yibao/enrollment/id-number"


class IdDecryptionError(ValueError):
    """The ciphertext was altered, truncated, or encrypted under another key."""


def id_encryption_key(secret: str) -> bytes:
    """The 32-byte AES key for `secret` (settings.id_encryption_key)."""
    if not secret:
        raise ValueError("the ID encryption secret is empty")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(secret.encode())


def encrypt_id_number(number: str, key: bytes) -> bytes:
    """Encrypt with a fresh random nonce: two encryptions of one ID differ."""
    nonce = os.urandom(_NONCE_BYTES)
    return _CIPHER_VERSION + nonce + AESGCM(key).encrypt(nonce, number.encode(), _ASSOCIATED_DATA)


def decrypt_id_number(blob: bytes, key: bytes) -> str:
    """Inverse of encrypt_id_number; any change to the blob or a wrong key raises IdDecryptionError."""
    if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _CIPHER_VERSION:
        raise IdDecryptionError("not an encrypted resident ID")
    nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        plain = AESGCM(key).decrypt(nonce, sealed, _ASSOCIATED_DATA)
    except InvalidTag as exc:
        raise IdDecryptionError("the encrypted resident ID fails authentication") from exc
    return plain.decode()


class IdSealer:
    """The keyed hash and the encrypted copy for many IDs: the HKDF derivation and the AES key object are built
    once (a batch import seals thousands of IDs; per ID only one one-shot HMAC and one encryption remain)."""

    def __init__(self, hash_key: str, encryption_secret: str) -> None:
        self._hash_key = hash_key.encode()
        self._aes = AESGCM(id_encryption_key(encryption_secret))

    def hash(self, number: str) -> str:
        """Equal to id_hash(number, hash_key); OpenSSL's one-shot HMAC, no Python hmac object per ID."""
        return hmac.digest(self._hash_key, number.encode(), "sha256").hex()

    def encrypt(self, number: str) -> bytes:
        """Same layout as encrypt_id_number (decrypt_id_number reads it)."""
        return self.encrypt_many([number])[0]

    def encrypt_many(self, numbers: Sequence[str]) -> list[bytes]:
        """encrypt for each number, with the fresh random nonces drawn from the OS in one call."""
        pool = os.urandom(_NONCE_BYTES * len(numbers))
        sealed = []
        encrypt = self._aes.encrypt
        for start, number in zip(range(0, len(pool), _NONCE_BYTES), numbers, strict=True):
            nonce = pool[start : start + _NONCE_BYTES]
            sealed.append(_CIPHER_VERSION + nonce + encrypt(nonce, number.encode(), _ASSOCIATED_DATA))
        return sealed


def format_person_no(sequence: int) -> str:
    return f"P{sequence:011d}"


def coverage_year_bounds(year: int) -> tuple[date, date]:
    """A basic-insurance enrollment year covers 1 January to 31 December."""
    return date(year, 1, 1), date(year, 12, 31)

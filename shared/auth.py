"""JWT bearer auth with the platform's roles.

Tokens are HS256 by default, signed with YIBAO_JWT_SECRET. The gateway checks them and
passes the header on; each service checks again (it never trusts the network).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from shared.errors import Forbidden, Unauthorized

# 定点机构编码: letters and digits, at most 20.
INSTITUTION_CODE = re.compile(r"[A-Za-z0-9]{1,20}")


class Role(StrEnum):
    INSURED = "insured"  # 参保人, through a mobile-app backend
    HOSPITAL = "hospital"  # 定点医药机构 system
    OPS = "ops"  # bureau operations staff
    AUDITOR = "auditor"  # fund supervision staff
    ADMIN = "admin"
    # Another Yibao service calling inside the cluster (e.g. settlement asking supervision's
    # 事中审核 check). Only a service holding the signing key mints it; no API client gets it.
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    institution_code: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.OPS, Role.AUDITOR, Role.ADMIN)


def issue_token(
    secret: str,
    *,
    subject: str,
    role: Role,
    institution_code: str | None = None,
    ttl_seconds: int = 12 * 3600,
    issuer: str = "yibao",
    algorithm: str = "HS256",
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "role": role.value, "iss": issuer, "iat": now, "exp": now + ttl_seconds}
    if institution_code:
        claims["inst"] = institution_code
    return jwt.encode(claims, secret, algorithm=algorithm)


def decode_token(token: str, secret: str, *, issuer: str = "yibao", algorithm: str = "HS256") -> Principal:
    return _verify(token, secret, issuer, algorithm)[0]


def _expired() -> Unauthorized:
    return Unauthorized("The token has expired; obtain a new one.", kind="token-expired")


def _verify(token: str, secret: str, issuer: str, algorithm: str) -> tuple[Principal, float]:
    """The token's principal and its expiry (epoch seconds), or Unauthorized."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[algorithm], issuer=issuer, options={"require": ["sub", "exp", "role"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise _expired() from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"The bearer token is invalid: {exc}.", kind="token-invalid") from exc
    try:
        role = Role(claims["role"])
    except ValueError as exc:
        raise Unauthorized(f"Unknown role {claims['role']!r} in token.", kind="token-invalid") from exc
    inst = claims.get("inst")
    if role is Role.HOSPITAL and not inst:
        raise Unauthorized("A hospital token must name its institution (claim `inst`).", kind="token-invalid")
    if inst is not None and not (isinstance(inst, str) and INSTITUTION_CODE.fullmatch(inst)):
        raise Unauthorized("The token's institution code (claim `inst`) is malformed.", kind="token-invalid")
    return Principal(subject=str(claims["sub"]), role=role, institution_code=inst), float(claims["exp"])


# Tokens verified before, with their expiry: the same bytes checked with the same key always
# give the same answer, and a caller sends its token on every request (the gateway and the
# service each checked it, ~70 µs a time). The expiry is still enforced on every use; only
# valid tokens are kept, and the memo is emptied when full rather than grown without bound.
_VERIFIED: dict[tuple[str, str, str, str], tuple[Principal, float]] = {}
VERIFIED_TOKENS_MAX = 4096


def verified_principal(token: str, secret: str, *, issuer: str = "yibao", algorithm: str = "HS256") -> Principal:
    """`decode_token`, remembering tokens it has verified until they expire."""
    key = (token, secret, issuer, algorithm)
    known = _VERIFIED.get(key)
    if known is not None:
        principal, expires_at = known
        if time.time() < expires_at:
            return principal
        del _VERIFIED[key]
        raise _expired()
    principal, expires_at = _verify(token, secret, issuer, algorithm)
    if len(_VERIFIED) >= VERIFIED_TOKENS_MAX:
        _VERIFIED.clear()
    _VERIFIED[key] = (principal, expires_at)
    return principal


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send `Authorization: Bearer <token>`.")
    return token.strip()


async def current_principal(request: Request) -> Principal:
    """The caller, from the bearer token, checked with the service's own settings."""
    settings = request.app.state.settings
    principal = verified_principal(
        bearer_token(request), settings.jwt_secret, issuer=settings.jwt_issuer, algorithm=settings.jwt_algorithm
    )
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"This action needs one of the roles: {allowed}; the token has {principal.role.value}.")

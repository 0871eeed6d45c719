"""Development tokens, signed with the development key (or YIBAO_JWT_SECRET when set)."""

from __future__ import annotations

import os

from shared.auth import Role, issue_token
from shared.settings import DEVELOPMENT_JWT_SECRET


def development_token(role: Role, subject: str, *, institution: str | None = None, ttl_seconds: int = 12 * 3600) -> str:
    if role is Role.HOSPITAL and not institution:
        institution = "H35058200001"
    secret = os.environ.get("YIBAO_JWT_SECRET") or DEVELOPMENT_JWT_SECRET
    return issue_token(secret, subject=subject, role=role, institution_code=institution, ttl_seconds=ttl_seconds)

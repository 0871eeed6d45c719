from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from shared.auth import Role
from shared.schemas import RequestModel


class ClientCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    institution_code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,20}$")

    @model_validator(mode="after")
    def _hospital_has_institution(self) -> Self:
        if self.role is Role.SERVICE:
            raise ValueError("the service role is for Yibao's own services, never an API client")
        if self.role is Role.HOSPITAL and not self.institution_code:
            raise ValueError("a hospital client needs institution_code")
        return self


class ClientCreated(BaseModel):
    client_id: str
    client_secret: str = Field(description="shown once; store it in the client's secret store")
    name: str
    role: Role
    institution_code: str | None


class TokenRequest(RequestModel):
    grant_type: Literal["client_credentials"] = "client_credentials"
    client_id: str = Field(min_length=1, max_length=40)
    client_secret: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int


class UpstreamOut(BaseModel):
    service: str
    openapi: str

"""LTC routes: thin; rules in service.py, SQL in repository.py."""

from __future__ import annotations

from fastapi import APIRouter

from services.ltc import repository
from services.ltc.schemas import CoverOut, LtcPersonOut
from services.ltc.service import age_on, current_cover
from shared.auth import CurrentPrincipal, Role
from shared.business_time import business_today
from shared.db import DbSession
from shared.errors import Forbidden, NotFound
from shared.schemas import PersonNoPath

router = APIRouter(tags=["ltc"])


@router.get("/persons/{person_no}", response_model=LtcPersonOut)
async def get_person(person_no: PersonNoPath, session: DbSession, principal: CurrentPrincipal) -> LtcPersonOut:
    if not principal.is_staff and not (principal.role is Role.INSURED and principal.subject == person_no):
        raise Forbidden("You may read only your own LTC record.")
    person = await repository.get_person(session, person_no)
    if person is None:
        raise NotFound(f"No LTC record for {person_no}.", kind="person-not-found")
    today = business_today()
    died_on = await repository.died_on(session, person_no)
    cover = current_cover(await repository.covers_of(session, person_no), today, died_on)
    return LtcPersonOut(
        person_no=person.person_no,
        birth_date=person.birth_date,
        age=age_on(person.birth_date, today),
        sex=person.sex,
        residence_region_code=await repository.residence_of(session, person),
        died_on=died_on,
        current_cover=CoverOut(**cover.__dict__) if cover else None,
        ltc_insured=cover is not None,
    )

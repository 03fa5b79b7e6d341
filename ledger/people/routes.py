"""The person file over HTTP. Reading a file is itself recorded in the audit log, in the unit of
work that reads it; the ID number of a lookup is hashed on arrival and never stored or logged
(the audit log records the method, path and key of a request, never its body)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy.orm import Session

from ledger.access.deps import AUDIT_ACTION, CurrentUser, request_unit_of_work, require_role
from ledger.access.service import Principal
from ledger.errors import ERROR_RESPONSES
from ledger.people import service
from ledger.people.models import PersonFile, PersonLookup
from ledger.replica import read_snapshot

router = APIRouter(tags=["people"], responses=ERROR_RESPONSES)
PersonKey = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


def file_reader(user: CurrentUser) -> Principal:
    """Authorised before the body is read: a refusal is a 403, never a 422."""
    require_role(user, *service.READERS)
    return user


def read_recorded(request: Request, user: Principal, key: str) -> PersonFile:
    """The file, read in a unit of work that writes the audit row of the reading."""

    def work(s: Session) -> dict[str, Any]:
        with read_snapshot(s) as snap:  # the read replica, when one is configured
            return service.person_file(snap, key=key, principal=user).model_dump(mode="json")

    written = request_unit_of_work(request, user).run(
        work, operation="person_file_read", key=None, audit_object=lambda r: ("person", key)
    )
    request.state.audited = True
    return PersonFile(**written.body)


@router.post("/people/lookup", response_model=PersonFile, openapi_extra=AUDIT_ACTION)
def lookup_person(
    request: Request, body: PersonLookup, user: Annotated[Principal, Depends(file_reader)]
) -> PersonFile:
    """The person file (一人一档) of an ID number sent in the body (never in a URL, so it is in
    no access log); the answer names the ``person_key`` for later reads."""
    return read_recorded(request, user, service.key_of(body.id_number))


@router.get("/people/{person_key}", response_model=PersonFile)
def read_person(
    request: Request, person_key: PersonKey, user: Annotated[Principal, Depends(file_reader)]
) -> PersonFile:
    """Every roster version and household change, every payout attempt with its outcome, reason
    and settling entry, the stored findings naming the person's payouts or households, register
    matches (death, payroll, staff relatives, holdings) and reviews. Accounts in full for civil
    affairs and admins, masked for auditors; finance and banks read no person files."""
    return read_recorded(request, user, person_key)

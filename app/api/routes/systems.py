"""Systems: create, list, edit reading rules, preview pasted lines, upload datasets, append lines."""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy import exists, select
from starlette.concurrency import run_in_threadpool

from app.api.deps import AdminUser, LabelerUser, SessionDep, SettingsDep, get_or_404
from app.api.schemas import AUTH_ERRORS, NOT_FOUND, PreviewIn, SystemIn, SystemOut, SystemPatch, UploadOut
from app.db.models import Dataset, System
from app.services import datasets as dataset_service
from app.services.ingest import preview
from app.services.systems import ReadSpec, SpecError, create_system
from app.services.uploads import UploadInvalid, UploadTooLarge, store_multipart, store_raw

router = APIRouter(prefix="/api/v1/systems", tags=["systems"], responses=AUTH_ERRORS)
# Multipart framing around the file part (boundaries, part headers) may add a little to the body.
MULTIPART_SLACK = 64 * 1024


def get_system(session, system_id: int) -> System:
    return get_or_404(session, System, system_id)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SystemOut, summary="Register a system",
             responses={422: {"description": "a bad format, label rule or window setting (named)"}})
def create(body: SystemIn, session: SessionDep, _: AdminUser) -> System:
    try:
        system = create_system(session, **body.model_dump())
    except SpecError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.commit()
    return system


@router.get("", response_model=list[SystemOut], summary="List systems")
def list_systems(session: SessionDep, _: LabelerUser) -> list[System]:
    return list(session.scalars(select(System).order_by(System.id)))


@router.get("/{system_id}", response_model=SystemOut, summary="Read a system", responses=NOT_FOUND)
def read(system_id: int, session: SessionDep, _: LabelerUser) -> System:
    return get_system(session, system_id)


@router.patch("/{system_id}", response_model=SystemOut, summary="Change how a system is read",
              responses={**NOT_FOUND, 409: {"description": "the system already has ingested data"},
                         422: {"description": "a bad format, label rule or window setting"}})
def edit(system_id: int, body: SystemPatch, session: SessionDep, _: AdminUser) -> System:
    system = get_system(session, system_id)
    if session.scalar(select(exists().where(Dataset.system_id == system_id, Dataset.status == "ready"))):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            "the system already has ingested data; create a new system to read differently")
    changes = body.model_dump(exclude_unset=True)
    spec = ReadSpec(changes.get("log_format", system.log_format), changes.get("label_rule", system.label_rule),
                    changes.get("strip_prefix", system.strip_prefix),
                    changes.get("session_regex", system.session_regex))
    try:
        spec.compile()
    except SpecError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    for key, value in changes.items():
        setattr(system, key, value)
    session.commit()
    return system


@router.post("/preview", summary="Try a format on pasted lines")
def preview_lines(body: PreviewIn, _: AdminUser) -> dict:
    """What a format and label rule make of pasted lines (before creating the system)."""
    spec = ReadSpec(body.log_format, body.label_rule, body.strip_prefix, body.session_regex)
    try:
        spec.compile()
    except SpecError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return preview(spec, body.lines)


@router.post("/{system_id}/datasets", status_code=status.HTTP_201_CREATED, response_model=UploadOut,
             summary="Upload a dataset",
             responses={**NOT_FOUND, 400: {"description": "a malformed multipart body"},
                        413: {"description": "the file exceeds the upload limit"}})
async def upload(system_id: int, request: Request, session: SessionDep, settings: SettingsDep, user: AdminUser,
                 role: Literal["source", "target"] = "source", ingest: bool = True,
                 filename: str | None = None) -> dict:
    """Upload a log file: multipart/form-data (field ``file``) or a raw body (``?filename=``).

    The file is streamed to disk under a generated name and checked line by line against the system's
    format; the first malformed line is reported (422) and nothing is kept. With ``ingest=true`` the
    ingest job starts at once.
    """
    system = await run_in_threadpool(get_system, session, system_id)
    limit = settings.upload_limit_bytes
    stored = await _receive(request, limit=limit, directory=settings.uploads_path, filename=filename)
    return await run_in_threadpool(dataset_service.register_upload, session, system=system, stored=stored,
                                   role=role, ingest=ingest, user=user)


async def _receive(request: Request, *, limit: int, directory, filename: str | None):
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + MULTIPART_SLACK:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"upload exceeds the limit of {limit} bytes")
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            return await store_multipart(request.stream(), content_type=content_type, directory=directory,
                                         limit=limit)
        return await store_raw(request.stream(), directory=directory, limit=limit, name=filename)
    except UploadTooLarge as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
    except UploadInvalid as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


@router.post("/{system_id}/lines", status_code=status.HTTP_202_ACCEPTED, response_model=UploadOut,
             summary="Append target lines",
             responses={**NOT_FOUND, 413: {"description": "the body exceeds the append limit"},
                        422: {"description": "a malformed lines field"}})
async def append_lines(system_id: int, request: Request, session: SessionDep, settings: SettingsDep,
                       user: AdminUser) -> dict:
    """Append target lines: ``{"lines": [...]}`` or ``text/plain``; ingested as a new target dataset."""
    system = await run_in_threadpool(get_system, session, system_id)
    limit = settings.append_limit_bytes
    if request.headers.get("content-type", "").startswith("application/json"):
        lines = await _json_lines(request, limit)
        stored = await store_raw(_iterate(lines), directory=settings.uploads_path, limit=limit, name="api-lines")
    else:
        stored = await _receive(request, limit=limit, directory=settings.uploads_path, filename="api-lines")
    return await run_in_threadpool(dataset_service.register_upload, session, system=system, stored=stored,
                                   role="target", ingest=True, user=user)


async def _json_lines(request: Request, limit: int) -> list[str]:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body exceeds the limit of {limit} bytes")
    try:
        lines = json.loads(body)["lines"]
    except (ValueError, KeyError, TypeError):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            'expected a JSON object {"lines": ["...", ...]}') from None
    if not isinstance(lines, list) or not lines or not all(isinstance(x, str) for x in lines):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "field 'lines' must be a non-empty list of strings")
    if any("\n" in x or "\r" in x for x in lines):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "field 'lines': an entry contains a newline")
    return lines


async def _iterate(lines: list[str]):
    yield "".join(f"{line}\n" for line in lines).encode()

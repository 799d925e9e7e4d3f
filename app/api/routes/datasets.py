"""Datasets: list, read, preview the first lines, start ingestion."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from app.api.deps import AdminUser, SessionDep, SettingsDep, get_or_404
from app.api.schemas import AUTH_ERRORS, NOT_FOUND, DatasetOut, JobOut
from app.db.models import Dataset
from app.services.datasets import start_ingest
from app.services.ingest import preview_file
from app.services.jobs import flush_outbox
from app.services.systems import ReadSpec, SpecError
from app.services.uploads import resolve_stored

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"], responses=AUTH_ERRORS)


def get_dataset(session, dataset_id: int) -> Dataset:
    return get_or_404(session, Dataset, dataset_id)


@router.get("", response_model=list[DatasetOut], summary="List datasets")
def list_datasets(session: SessionDep, _: AdminUser, system_id: int | None = None) -> list[Dataset]:
    query = select(Dataset).order_by(Dataset.id.desc())
    if system_id is not None:
        query = query.where(Dataset.system_id == system_id)
    return list(session.scalars(query.limit(500)))


@router.get("/{dataset_id}", response_model=DatasetOut, summary="Read a dataset", responses=NOT_FOUND)
def read(dataset_id: int, session: SessionDep, _: AdminUser) -> Dataset:
    return get_dataset(session, dataset_id)


@router.get("/{dataset_id}/preview", summary="Preview a dataset's first lines",
            responses={**NOT_FOUND, 409: {"description": "the file is gone"},
                       422: {"description": "a bad format or rule"}})
def preview(dataset_id: int, session: SessionDep, settings: SettingsDep, _: AdminUser,
            log_format: str | None = None, label_rule: str | None = None, lines: int = 50) -> dict:
    """The first lines read with the system's settings, or with ``log_format``/``label_rule`` to try others."""
    dataset = get_dataset(session, dataset_id)
    if dataset.stored_name is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "the dataset's file is gone (it failed to ingest)")
    system = dataset.system
    spec = ReadSpec(log_format or system.log_format, label_rule if label_rule is not None else system.label_rule,
                    system.strip_prefix, system.session_regex)
    try:
        return preview_file(spec, resolve_stored(settings.uploads_path, dataset.stored_name),
                            source=dataset.original_name, n=max(1, min(lines, 500)))
    except SpecError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post("/{dataset_id}/ingest", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut,
             summary="Ingest a dataset", responses=NOT_FOUND)
async def ingest(dataset_id: int, session: SessionDep, _: AdminUser):
    def start():
        job = start_ingest(session, dataset=get_dataset(session, dataset_id))
        session.commit()
        return job

    job = await run_in_threadpool(start)
    await run_in_threadpool(flush_outbox)
    return job

"""Labeling pages (issue 6): the queue, the label history and label-by-template, each in its own module."""

from fastapi import APIRouter

from app.web import labeling_history, labeling_queue

router = APIRouter(include_in_schema=False)
router.include_router(labeling_queue.router)
router.include_router(labeling_history.router)

"""The compute pages (jobs I submitted, jobs my node ran): filled in below."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

"""TI-A replies rendered from a stored job."""

from __future__ import annotations


def public_job(job: dict) -> dict:
    """A job as a reply carries it: unset (None) fields are left out, as the official examples do."""
    return {k: v for k, v in job.items() if v is not None}

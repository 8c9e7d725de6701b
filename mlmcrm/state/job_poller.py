"""The one job-progress poller: a background handler follows a queued job on its row.

Long work (a commission run, a contact import, a system check) runs on the worker; the page
queues it, then follows its ``jobs`` row (read through the scoping function, as the actor) and
shows the progress with :func:`mlmcrm.components.job_progress.job_progress`::

    @rx.event(background=True)
    async def run_check(self) -> None:
        async with self:
            actor = self.actor_for("jobs.read")
            ...
        job = await self._follow_job(actor=actor, job_id=queued.id)
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar

import reflex as rx

from mlmcrm.db import session_scope
from mlmcrm.services.platform import jobs as job_service

if TYPE_CHECKING:
    from mlmcrm.services.platform.actor import Actor

FINISHED = frozenset({"succeeded", "failed", "cancelled"})
"""Job states that end the following."""

NO_WORKER = "No worker picked the job up; is the worker running?"


class JobPollerState(rx.State, mixin=True):
    """A job being followed: its state, progress and latest message."""

    job_active: bool = False
    job_status: str = ""
    job_progress: int = 0
    job_message: str = ""

    poll_interval: ClassVar[float] = 0.5
    """Seconds between two reads of the job row."""
    poll_limit: ClassVar[float] = 600.0
    """Seconds after which a job nobody picked up is given up on."""

    @staticmethod
    def _read_job(actor: Actor, job_id: int) -> job_service.JobPublic:
        with session_scope("app", actor_id=actor.user_id) as session:
            return job_service.get_job(session=session, actor=actor, job_id=job_id)

    async def _follow_job(self, *, actor: Actor, job_id: int) -> job_service.JobPublic | None:
        """Follow ``job_id`` until it ends; call it in a background handler, outside ``async with``.

        Returns:
            The finished job, or None when no worker picked it up in time (the message says so).
        """
        async with self:
            self.job_active, self.job_status, self.job_progress = True, "queued", 0
            self.job_message = "Queued"
        try:
            for _ in range(max(1, int(self.poll_limit / self.poll_interval))):
                await asyncio.sleep(self.poll_interval)
                job = await asyncio.to_thread(self._read_job, actor, job_id)
                async with self:
                    self.job_status = job.status
                    self.job_progress = int(job.progress)
                    self.job_message = job.error or job.message
                if job.status in FINISHED:
                    return job
            async with self:
                self.job_message = NO_WORKER
            return None
        finally:
            async with self:
                self.job_active = False

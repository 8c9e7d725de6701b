"""The progress of a job followed by :class:`~mlmcrm.state.job_poller.JobPollerState`."""

from __future__ import annotations

import reflex as rx

from mlmcrm.state.job_poller import JobPollerState


def job_progress(state: type[JobPollerState], *, element_id: str = "job-progress") -> rx.Component:
    """A progress bar and the job's latest message, while a job is followed or after it ended."""
    return rx.cond(
        state.job_active | (state.job_message != ""),
        rx.vstack(
            rx.progress(value=state.job_progress, max=100, width="100%"),
            rx.text(state.job_message, size="2", color=rx.color("gray", 11)),
            spacing="2",
            width="100%",
            id=element_id,
            role="status",
        ),
    )

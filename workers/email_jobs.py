"""Registers the ``email.send`` job (on the ``messages`` queue): see :mod:`mlmcrm.services.mail`."""

from __future__ import annotations

from mlmcrm.services import mail
from mlmcrm.services.jobs import job_kind

send_email = job_kind(mail.EMAIL_JOB_KIND, queue=mail.EMAIL_QUEUE)(mail.deliver)

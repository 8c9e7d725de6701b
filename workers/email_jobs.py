"""Registers the ``email.send`` job (on the ``messages`` queue).

See :mod:`mlmcrm.services.platform.mail`.
"""

from __future__ import annotations

from mlmcrm.services.platform import mail
from mlmcrm.services.platform.jobs import job_kind

send_email = job_kind(mail.EMAIL_JOB_KIND)(mail.deliver)

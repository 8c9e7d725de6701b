"""Execute a payout batch in a process of its own, as the worker does (the tests kill it).

    python -m tests.services.payouts.run_batch BATCH_ID [--die-after-ach-file]

With ``--die-after-ach-file`` the process kills itself (SIGKILL) right after the ACH file is
stored and before anything records it.
"""

from __future__ import annotations

import os
import signal
import sys

from mlmcrm.integrations import storage
from mlmcrm.services.payouts import execution
from mlmcrm.services.platform.actor import Actor


def main() -> None:
    """Run the batch of ``argv[1]``."""
    if "--die-after-ach-file" in sys.argv:
        put = storage.put

        def put_then_die(*args, **kwargs):
            put(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)

        storage.put = put_then_die
    execution.execute_batch(int(sys.argv[1]), progress=lambda *_: None, actor=Actor.system("t"))


if __name__ == "__main__":
    main()

"""The job lifecycle behind the widget: one job at a time, run in a worker thread.

The controller knows nothing of traitlets or comms: it talks to a :class:`Sink` (the widget,
or a list in the tests) through ``send_message`` (custom messages with binary buffers) and
``update_state`` (trait values). The kernel's main thread stays free while a job runs, so a
Cancel request (or any cell) is handled at once; cancelling terminates the running onnxruntime
call, so a run stops within one tile.

The job's lifecycle is in ``jobs``, the kernel engine's side in ``kernel_jobs``, the browser
engine's in ``browser_jobs``; every name this module had stays importable from here.
"""

from __future__ import annotations

from .browser_jobs import BrowserJobs
from .jobs import REPLAY_LIMIT_BYTES, Job, JobLifecycle, JobOptions, Sink
from .kernel_jobs import KernelJobs


class Controller(KernelJobs, BrowserJobs):
    """Starts, cancels and finishes jobs; keeps the last :class:`~enhance_widget.result.Result`."""


__all__ = [
    "REPLAY_LIMIT_BYTES",
    "BrowserJobs",
    "Controller",
    "Job",
    "JobLifecycle",
    "JobOptions",
    "KernelJobs",
    "Sink",
]

"""A rich progress bar over jobs when `rich` is installed (the `[cli]` extra) and wanted; otherwise nothing."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional


class Progress:
    """`enabled`: True always (when rich is installed), None only on a terminal, False never."""

    def __init__(self, enabled: Optional[bool], total: int, description: str = "jobs"):
        self.progress: Any = None
        if enabled is False:
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress
        except ImportError:  # rich is optional for library users
            return
        console = Console(stderr=True)
        if enabled is None and not console.is_terminal:
            return
        self.progress = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console,
                                     transient=False)
        self.task = self.progress.add_task(description, total=total, status="")

    def __enter__(self) -> "Progress":
        if self.progress:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress:
            self.progress.__exit__(*exc)

    def update(self, completed: float, status: str) -> None:
        if self.progress:
            self.progress.update(self.task, completed=completed, status=status)


def summarise(jobs: Mapping[str, Mapping[str, Any]]) -> str:
    """`failed=1 running=2 …`: how many jobs are in each status."""
    counts: Dict[str, int] = {}
    for job in jobs.values():
        counts[str(job.get("status"))] = counts.get(str(job.get("status")), 0) + 1
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items()))

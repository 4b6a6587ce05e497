"""Problems found in an upload, and the error that rejects it.

Every problem names where it is (row and column, as a person sees them in the file) and why it
is a problem, so that the uploader can fix the file without asking anyone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Final

#: A file with more problems than this is reported with the first ones and a count of the rest:
#: nobody reads ten thousand lines, and the first hundred show what is wrong.
MAX_REPORTED_PROBLEMS: Final = 100
#: Longest reason reported: reasons quote the offending cell, and a refusal must not echo a
#: file back (a hundred problems stay a few kilobytes).
MAX_REASON_CHARS: Final = 500


@dataclass(frozen=True, order=True)
class Problem:
    """One reason a file cannot be accepted.

    ``row`` counts as a spreadsheet does (the header is row 1, the first data row is row 2) for
    CSV and XLSX, and from 1 over the records of a JSON file; it is ``None`` for problems of the
    whole file (encoding, size, missing columns). ``file`` names the file when one request
    carries several (a catalog's fields and programmes files).
    """

    row: int | None
    column: str | None
    reason: str
    file: str | None = None

    def __str__(self) -> str:
        where = [f"file {self.file!r}"] if self.file is not None else []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        prefix = ", ".join(where) if where else "file"
        return f"{prefix}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """The problem as JSON members (``file`` only when it is named)."""
        values = asdict(self)
        if self.file is None:
            del values["file"]
        return values


class UploadRejected(ValueError):
    """The file was not stored, for the reasons in :attr:`problems`.

    ``total`` counts every problem found; :attr:`problems` holds at most
    :data:`MAX_REPORTED_PROBLEMS` of them, in file order.
    """

    def __init__(self, problems: list[Problem], total: int | None = None) -> None:
        if not problems:
            raise ValueError("UploadRejected needs at least one problem")
        ordered = sorted(problems, key=_file_order)
        self.total = total if total is not None else len(ordered)
        self.problems = [_shortened(problem) for problem in ordered[:MAX_REPORTED_PROBLEMS]]
        super().__init__(self.summary())

    def __reduce__(self) -> tuple[type[UploadRejected], tuple[list[Problem], int]]:
        # Rebuilt from its problems when it crosses a process boundary (the server validates
        # uploads in worker processes); the default would pass only the message.
        return (UploadRejected, (self.problems, self.total))

    def summary(self, limit: int = 20) -> str:
        lines = [f"upload rejected: {self.total} problem(s); nothing was stored"]
        lines += [f"  {problem}" for problem in self.problems[:limit]]
        hidden = self.total - min(limit, len(self.problems))
        if hidden > 0:
            lines.append(f"  ... and {hidden} more")
        return "\n".join(lines)


def _file_order(problem: Problem) -> tuple[str, int, str, str]:
    row = problem.row if problem.row is not None else -1
    return (problem.file or "", row, problem.column or "", problem.reason)


def _shortened(problem: Problem) -> Problem:
    if len(problem.reason) <= MAX_REASON_CHARS:
        return problem
    return replace(problem, reason=problem.reason[: MAX_REASON_CHARS - 1] + "…")

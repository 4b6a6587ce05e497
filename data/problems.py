"""Problems found in an upload, and the error that rejects it.

Every problem names where it is (row and column, as a person sees them in the file) and why it
is a problem, so that the uploader can fix the file without asking anyone. Problems of an
upload also carry a code and its parameters (:mod:`data.messages`), so that the reason can be
shown in the uploader's language; the English ``reason`` is the one stored and logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final

from data.messages import DEFAULT_LANGUAGE, MESSAGES, Lang, Param, render

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

    ``code`` names the kind of problem (a key of :data:`~data.messages.MESSAGES`) and
    ``params`` what the message says about it; a problem made without a code (as a test
    writes out the one it expects) shows its English ``reason`` in every language. Neither
    takes part in comparisons: two problems are the same when they say the same thing at the
    same place.
    """

    row: int | None
    column: str | None
    reason: str
    code: str | None = field(default=None, compare=False)
    params: tuple[tuple[str, Param], ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, row: int | None, column: str | None, code: str, /, **params: Param) -> Problem:
        """The problem ``code`` with its parameters, its ``reason`` written in English."""
        if code not in MESSAGES:
            raise KeyError(f"no message for the problem code {code!r}; add it to data.messages")
        reason = render(MESSAGES, code, params, DEFAULT_LANGUAGE)
        return cls(row, column, reason, code, tuple(params.items()))

    def reason_in(self, lang: Lang) -> str:
        """The reason in ``lang``, shortened like the stored one."""
        if self.code is None or lang == DEFAULT_LANGUAGE:
            return self.reason
        return shortened(render(MESSAGES, self.code, dict(self.params), lang))

    file: str | None = None

    def __str__(self) -> str:
        where = [f"file {self.file!r}"] if self.file is not None else []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        prefix = ", ".join(where) if where else "file"
        return f"{prefix}: {self.reason}"

    def to_dict(self, lang: Lang = DEFAULT_LANGUAGE) -> dict[str, Any]:
        """Where, which code and why, the reason in ``lang`` (``file`` only when named)."""
        values: dict[str, Any] = {} if self.file is None else {"file": self.file}
        return {
            **values,
            "row": self.row,
            "column": self.column,
            "code": self.code,
            "reason": self.reason_in(lang),
        }


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


def shortened(reason: str) -> str:
    """``reason`` cut to :data:`MAX_REASON_CHARS` (the cells it quotes may be long)."""
    if len(reason) <= MAX_REASON_CHARS:
        return reason
    return reason[: MAX_REASON_CHARS - 1] + "…"


def _shortened(problem: Problem) -> Problem:
    if len(problem.reason) <= MAX_REASON_CHARS:
        return problem
    return replace(problem, reason=shortened(problem.reason))

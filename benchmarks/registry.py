"""The measurements, one table row each, in the order they are printed.

A row is a function decorated with :func:`measurement`; it gets the run's
:class:`~benchmarks.bench.Bench` and answers a :class:`Result`. A later issue adds a row
by adding a function (in a module ``benchmarks/rows/__init__.py`` imports).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.bench import Bench


@dataclass
class Result:
    plain: str = "-"
    guarded: str = "-"
    difference: str = "-"
    ratio: str = "-"
    # None: no target to meet (or not measurable here); the row says so.
    met: bool | None = None
    note: str = ""


@dataclass(frozen=True)
class Row:
    key: str
    what: str
    target: str
    measure: Callable[[Bench], Result]
    # Runs after every other row (it changes the data they read), printed in its place.
    runs_last: bool = False


ROWS: list[Row] = []


def measurement(key: str, what: str, target: str, runs_last: bool = False) -> Callable:
    def register(function: Callable[[Bench], Result]) -> Callable[[Bench], Result]:
        if any(row.key == key for row in ROWS):
            raise ValueError(f"two rows named {key}")
        ROWS.append(Row(key, what, target, function, runs_last))
        return function

    return register

"""Every row of the table; importing a module registers its rows, in this order."""

from benchmarks.rows import signin, concurrency, pages, dashboard, prune, ordinary, workers  # noqa: F401, I001

"""The operator's figures: what the guard decided, why, and how the provider fares.

``rollup`` keeps an hourly summary of the login checks, filled lazily when the figures are
asked for; ``figures`` reads it (plus the hours not yet rolled up, live) into plain data;
``charts`` draws that data as inline SVG for the admin's dashboard (``admin``); the
``rupt_guard_stats`` command and the API's ``stats`` endpoint give it as JSON.
"""

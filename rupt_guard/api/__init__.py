"""A JSON API for single-page and mobile sign-ins, on Django REST framework.

Mount it with ``path("api/rupt-guard/", include("rupt_guard.api.urls"))``. The same
check, policy and challenge as the HTML flow hold here: nothing is issued before the gate.
"""

"""The suite's django-allauth site: run as its own pass (tests/run.py), under settings.py here."""

"""One module per ``manage.py`` command of rupt_guard."""

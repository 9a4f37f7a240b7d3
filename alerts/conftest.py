"""Keep pytest's doctest collector out of the Alembic scripts.

``--doctest-modules`` imports every module under ``alerts/``; ``env.py`` only
runs inside Alembic (it calls ``alembic.context`` at import), and the
revision files are loaded by Alembic from their paths, not imported as
modules. The migrations are tested by running them, in
``tests/test_case_store.py``.
"""

collect_ignore = ["migrations"]

"""What to run: the suite file (``file``: safe YAML, ``--set``), its schema (``schema``: the pydantic models, loading
and the checks of names and resources), search spaces (``searchspace``), the expansion into trials (``expand``) and
the typed trial plan (``plan``)."""

"""The read side: what the dashboards, charts and exports show, summed in the database.

One module per subject (``spend``, ``usage``, ``claude_code``, ``enterprise``) over shared
ones: ``filters`` (what a person chose, as SQL), ``top`` (the one top-N / "Other" fold),
``names`` and ``labels`` (the same value gets the same label on every page), ``options`` (the
filter widgets' choices), ``periods`` (days, weeks, months; cents and dollars) and ``frames``
(a chart's table as CSV).
"""

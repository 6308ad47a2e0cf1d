"""`divmon serve`: a read-only web dashboard and JSON API over the store (Starlette under uvicorn).

Imported only when the command runs or ``schedule.serve`` starts it, so `divmon --help` loads no web
stack. Layering: beside ``cli`` and ``scheduler``; it may use jobs, app, report and evidence, and only
they import it.
"""

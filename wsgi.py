"""WSGI entry point: gunicorn wsgi:app, and flask --app wsgi."""

import gc

from portal import create_app

app = create_app()
# Everything built so far (the app, its URL map, SQLAlchemy's metadata, the admin views) lives
# as long as the process: keep it out of the cyclic collector's full passes, which otherwise
# walk it all and pause a request now and then (the intake's tail latency).
gc.freeze()

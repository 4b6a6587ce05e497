"""One router per resource; :func:`serving.app.create_app` includes them under ``/api/v1``."""

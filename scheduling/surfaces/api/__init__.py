"""The REST API under ``/api/``: thin adapters over the models and the services.

Validation is the models' (``Schedule.full_clean``, the same as the admin); actions call
``scheduling.services`` and ``orchestrator.service``. Permissions are the Django model
permissions, listed per action on each view (``ModelActionPermission``).
"""

"""The API's resources (``/api/schedules/``, ``/api/runs/``, ``/api/jobs/``, ``/api/backfills/``)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from scheduling.surfaces.api import backfill_views, views

router = SimpleRouter()
router.register("schedules", views.ScheduleViewSet, basename="schedule")
router.register("runs", views.RunViewSet, basename="run")
router.register("jobs", views.JobViewSet, basename="job")
router.register("backfills", backfill_views.BackfillViewSet, basename="backfill")

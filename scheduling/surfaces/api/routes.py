"""The API's resources: schedules, runs, jobs, calendars, backfills, notification rules and deliveries."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from scheduling.surfaces.api import audit_views, backfill_views, calendar_views, notification_views, pause_views, views

router = SimpleRouter()
router.register("schedules", views.ScheduleViewSet, basename="schedule")
# Only detail routes: /api/schedules/{id}/pause/ and /resume/, beside the schedules' own.
router.register("schedules", pause_views.SchedulePauseViewSet, basename="schedule-control")
# Only a detail route: /api/schedules/{id}/audit/.
router.register("schedules", audit_views.ScheduleAuditViewSet, basename="schedule-audit")
router.register("runs", views.RunViewSet, basename="run")
router.register("jobs", views.JobViewSet, basename="job")
router.register("calendars", calendar_views.CalendarViewSet, basename="calendar")
router.register("backfills", backfill_views.BackfillViewSet, basename="backfill")
router.register("notification-rules", notification_views.NotificationRuleViewSet, basename="notification-rule")
router.register("notifications", notification_views.NotificationViewSet, basename="notification")

"""The OpenAPI enum names of fields that share a name across models (``status``, ``overlap_policy``).

Plain data, importable from settings: drf-spectacular caches the overrides it loads first, so the
API's own settings and a project's ``SPECTACULAR_SETTINGS`` must name the same ones.
"""

ENUM_NAME_OVERRIDES = {
    "RunStatusEnum": "orchestrator.models.RunStatus",
    "OccurrenceStatusEnum": "scheduling.models.OccurrenceStatus",
    "ScheduleKindEnum": "scheduling.core.timing.Kind.choices",
    "JobKindEnum": "orchestrator.models.JobKind",
    "OverlapPolicyEnum": "scheduling.core.policies.OverlapPolicy.choices",
    "BackfillStatusEnum": "scheduling.models.BackfillStatus",
    "BackfillOverlapPolicyEnum": "scheduling.engine.backfills.POLICIES",
}

"""`Run.traceparent`: the W3C trace context of the span that created the run (tracing, `SCHEDULER_TRACING=otel`).

Empty by default (a database default too, so the run inserts that leave it out stay as they are)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('orchestrator', '0003_run_trigger_backfill'),
    ]

    operations = [
        migrations.AddField(
            model_name='run',
            name='traceparent',
            field=models.CharField(blank=True, db_default='', default='', max_length=55),
        ),
    ]

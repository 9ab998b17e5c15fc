"""`Run.trigger` gains `backfill` (runs a backfill of a schedule's past fire times created). Choices only."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('orchestrator', '0002_job_kind'),
    ]

    operations = [
        migrations.AlterField(
            model_name='run',
            name='trigger',
            field=models.CharField(choices=[('schedule', 'schedule'), ('manual', 'manual'), ('api', 'api'), ('backfill', 'backfill')], max_length=20),
        ),
    ]

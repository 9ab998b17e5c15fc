"""Schedule controls: pause with a note and a resume time, pause after failures, limited runs, exclusion
calendars, deadlines; backfills, and the occurrences they create. New columns are empty or 0: nothing moves."""

import django.db.models.deletion
import scheduling.core.policies
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('orchestrator', '0003_run_trigger_backfill'),
        ('scheduling', '0004_schedule_sources_code_celery_beat'),
    ]

    operations = [
        migrations.CreateModel(
            name='Calendar',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, unique=True)),
                ('description', models.TextField(blank=True)),
                ('timezone', models.CharField(default='UTC', help_text='IANA time zone the dates and crons are read in.', max_length=64)),
                ('dates', models.JSONField(blank=True, default=list, help_text='Whole local days excluded, as ["YYYY-MM-DD", ...] (e.g. holidays).')),
                ('crons', models.JSONField(blank=True, default=list, help_text='Cron expressions; a fire time they match is excluded, e.g. ["* * * * 6,0"] for weekends or ["* 2-3 * * *"] for a 02:00-03:59 maintenance window.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ['name'],
            },
        ),
        migrations.AddField(
            model_name='schedule',
            name='deadline_seconds',
            field=models.PositiveIntegerField(blank=True, help_text='A run not finished this many seconds after its scheduled time is overdue (shown, counted, an event); empty for no deadline.', null=True),
        ),
        migrations.AddField(
            model_name='schedule',
            name='failure_streak',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='schedule',
            name='pause_after_failures',
            field=models.PositiveIntegerField(blank=True, help_text='Pause by itself after this many consecutive failed or timed-out scheduled runs; empty for never.', null=True),
        ),
        migrations.AddField(
            model_name='schedule',
            name='pause_note',
            field=models.TextField(blank=True, help_text='Why it is paused: shown wherever the schedule is.'),
        ),
        migrations.AddField(
            model_name='schedule',
            name='paused_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='schedule',
            name='paused_by',
            field=models.CharField(blank=True, help_text="Who paused it: a username, 'cli', 'yaml:<file>' or 'system'.", max_length=150),
        ),
        migrations.AddField(
            model_name='schedule',
            name='remaining_runs',
            field=models.PositiveIntegerField(blank=True, help_text='Occurrences still to dispatch; each dispatched one takes one, at 0 no more. Manual runs do not count. Empty for unlimited.', null=True),
        ),
        migrations.AddField(
            model_name='schedule',
            name='resume_at',
            field=models.DateTimeField(blank=True, help_text='A paused schedule resumes by itself at this time (once, by one beat); then it is cleared. Occurrences that fell due while paused follow the misfire policy.', null=True),
        ),
        migrations.AddField(
            model_name='scheduledrun',
            name='overdue_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='scheduledrun',
            name='trigger',
            field=models.CharField(choices=[('schedule', 'schedule'), ('manual', 'manual'), ('api', 'api'), ('backfill', 'backfill')], default='schedule', max_length=20),
        ),
        migrations.CreateModel(
            name='Backfill',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('start', models.DateTimeField()),
                ('end', models.DateTimeField()),
                ('overlap_policy', models.CharField(choices=[('skip', 'skip: record the new occurrence as skipped while a run is active'), ('allow', 'allow: start it anyway (limits still apply)'), ('buffer_one', 'buffer one: keep one occurrence waiting, skip the rest'), ('buffer_all', 'buffer all: keep every occurrence, run them one after another'), ('replace', 'replace: cancel the active run and start the new one')], default=scheduling.core.policies.OverlapPolicy['BUFFER_ALL'], help_text="How the backfill's runs overlap: by default one after another (buffer all).", max_length=20)),
                ('status', models.CharField(choices=[('running', 'running'), ('finished', 'finished'), ('cancelled', 'cancelled')], default='running', max_length=20)),
                ('count', models.PositiveIntegerField(default=0)),
                ('created', models.PositiveIntegerField(default=0)),
                ('cursor', models.DateTimeField(blank=True, null=True)),
                ('requested_by', models.CharField(blank=True, max_length=150)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('schedule', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='backfills', to='scheduling.schedule')),
            ],
            options={
                'ordering': ['-created_at'],
            },
        ),
        migrations.AddField(
            model_name='scheduledrun',
            name='backfill',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='occurrences', to='scheduling.backfill'),
        ),
        migrations.AddField(
            model_name='schedule',
            name='calendars',
            field=models.ManyToManyField(blank=True, help_text='Exclusion calendars: a fire time one of them excludes is recorded skipped and never runs.', related_name='schedules', to='scheduling.calendar'),
        ),
        migrations.AddIndex(
            model_name='schedule',
            index=models.Index(condition=models.Q(('resume_at__isnull', False)), fields=['resume_at'], name='schedule_resume_idx'),
        ),
        migrations.AddIndex(
            model_name='backfill',
            index=models.Index(condition=models.Q(('status', 'running')), fields=['status'], name='backfill_running_idx'),
        ),
        migrations.AddConstraint(
            model_name='backfill',
            constraint=models.CheckConstraint(condition=models.Q(('end__gt', models.F('start'))), name='backfill_end_after_start'),
        ),
    ]

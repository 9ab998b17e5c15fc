"""``Schedule.source`` gains ``code`` (the Celery app's ``beat_schedule``) and ``celery_beat`` (imported from
django-celery-beat); ``source_path`` says where either was read from. Choices and help text only: no data moves."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('scheduling', '0003_api_tokens'),
    ]

    operations = [
        migrations.AlterField(
            model_name='schedule',
            name='source',
            field=models.CharField(choices=[('admin', 'admin'), ('api', 'API'), ('yaml', 'YAML sync'), ('code', 'beat_schedule (code)'), ('celery_beat', 'django-celery-beat import'), ('demo', 'demo'), ('other', 'other')], default='admin', max_length=20),
        ),
        migrations.AlterField(
            model_name='schedule',
            name='source_path',
            field=models.CharField(blank=True, help_text='Where a sync or an import read it from: the YAML file, beat_schedule or django_celery_beat.', max_length=500),
        ),
    ]

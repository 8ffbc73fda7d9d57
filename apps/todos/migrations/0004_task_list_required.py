import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("todos", "0003_inbox_for_every_task")]

    operations = [
        migrations.AlterField(
            model_name="task",
            name="task_list",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="tasks", to="todos.tasklist"
            ),
        ),
    ]

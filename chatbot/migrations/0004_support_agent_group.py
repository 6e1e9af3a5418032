"""The "Support agent" group: exactly what the console and transcript review need."""

from typing import Any

from django.db import migrations

GROUP = "Support agent"
PERMISSIONS = {
    "chatbot": {
        "conversation": ["view", "change"],
        "message": ["view", "change"],
        "customer": ["view"],
        "cannedresponse": ["view", "add", "change"],
        "conversationnote": ["view", "add", "change"],
        "order": ["view"],
        "orderitem": ["view"],
        "returnrequest": ["view"],
        "article": ["view"],
    },
    "classifier": {
        "intent": ["view"],
        "trainingexample": ["view", "add"],
    },
    "recommender": {
        "product": ["view"],
    },
}


def create_group(apps: Any, schema_editor: Any) -> None:
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations ran (post_migrate); on
    # a fresh database they don't exist yet at this point, so create them now.
    for app_config in apps.get_app_configs():
        # Restored after: the tests run this with the global registry, whose apps
        # must keep their models module (or a later flush creates no permissions).
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    wanted = []
    for app_label, models in PERMISSIONS.items():
        for model, actions in models.items():
            for action in actions:
                wanted.append(
                    Permission.objects.get(
                        content_type__app_label=app_label,
                        codename=f"{action}_{model}",
                    )
                )
    group.permissions.set(wanted)


def delete_group(apps: Any, schema_editor: Any) -> None:
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("chatbot", "0003_console"),
        ("classifier", "0001_initial"),
        ("recommender", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]

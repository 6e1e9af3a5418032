"""The "Data protection officer" group: answering access and erasure requests, and
the customer list to pick a customer from; nothing of the console."""

from typing import Any

from django.db import migrations

GROUP = "Data protection officer"
PERMISSIONS = [
    ("privacy", "erase_export_customer_data"),
    ("privacy", "view_datasubjectrequest"),
    ("chatbot", "view_customer"),
    ("chatbot", "view_order"),
]


def create_group(apps: Any, schema_editor: Any) -> None:
    from django.contrib.auth.management import create_permissions

    # As in chatbot 0004: permissions are created after all migrations ran
    # (post_migrate), too late for this one, so create them now.
    for label in ("privacy", "chatbot"):
        app_config = apps.get_app_config(label)
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.set(
        [
            Permission.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in PERMISSIONS
        ]
    )


def delete_group(apps: Any, schema_editor: Any) -> None:
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0001_data_subject_requests"),
        ("chatbot", "0016_shop_erasure_deletes_orders"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]

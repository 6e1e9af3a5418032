"""The console's own permissions (reply, assign, resolve), given to the "Support
agent" group so that the agents it already holds keep working the console."""

from typing import Any

from django.db import migrations

GROUP = "Support agent"
NEW = ["reply_conversation", "assign_conversation", "resolve_conversation"]


def grant(apps: Any, schema_editor: Any) -> None:
    from django.contrib.auth.management import create_permissions

    # As in 0004: permissions are created after all migrations ran (post_migrate),
    # too late for this one, so create the chatbot app's now.
    app_config = apps.get_app_config("chatbot")
    models_module = getattr(app_config, "models_module", None)  # as in 0004
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = Permission.objects.filter(
        content_type__app_label="chatbot", codename__in=NEW
    )
    for group in Group.objects.filter(name=GROUP):
        group.permissions.add(*wanted)


def revoke(apps: Any, schema_editor: Any) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    unwanted = Permission.objects.filter(
        content_type__app_label="chatbot", codename__in=NEW
    )
    for group in Group.objects.filter(name=GROUP):
        group.permissions.remove(*unwanted)


class Migration(migrations.Migration):
    dependencies = [
        ("chatbot", "0007_pending_reply"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="conversation",
            options={
                "ordering": ["-created"],
                "permissions": [
                    ("reply_conversation", "Can take over a conversation and reply"),
                    (
                        "assign_conversation",
                        "Can assign a conversation, or act on one another agent holds",
                    ),
                    ("resolve_conversation", "Can resolve a conversation"),
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]

from __future__ import annotations

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Privacy (retention, erasure, access)"

    def ready(self) -> None:
        # The chat announces transcripts opened and never knows who listens, so
        # imports still run one way (privacy → chatbot).
        from chatbot.events import transcript_opened
        from privacy.access import on_transcript_opened

        transcript_opened.connect(
            on_transcript_opened, dispatch_uid="privacy.staff_access"
        )

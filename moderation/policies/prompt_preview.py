"""The exact prompt a draft produces under the configured model, for the API and the console.

The processor loads once per process (a prompt preview never loads the weights); no database
connection is held while it loads. Each preview is audited.
"""

from __future__ import annotations

import uuid

from moderation.config import Settings
from moderation.inference.preview import PromptPreview, preview_prompt
from moderation.inference.resolve import resolve_model
from moderation.policies.authoring import Author, audit_authoring, draft_policy, get_draft
from moderation.storage.db import session_scope


def preview_draft(
    db_url: str, settings: Settings, author: Author, slug: str, draft_id: uuid.UUID
) -> PromptPreview:
    """The prompt of ``author``'s draft (DraftNotFound otherwise), audited."""
    with session_scope(db_url) as session:
        policy = draft_policy(get_draft(session, author, slug, draft_id))
    model, _ = resolve_model(settings)
    preview = preview_prompt(
        model, settings.model_revision, policy.rubric(), settings.model_profile
    )
    data = {"draft_id": str(draft_id), "model": model, "prompt_sha256": preview.sha256}
    with session_scope(db_url) as session:
        audit_authoring(session, author, slug, "policy.prompt_previewed", data)
    return preview

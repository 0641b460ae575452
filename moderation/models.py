"""Every table of the service, so that ``Base.metadata`` is whole (Alembic, schema checks)."""

from moderation.accounts.models import ApiKey, Tenant, User, UserSession
from moderation.audit.models import AuditChainHead, AuditEvent
from moderation.banks.models import BankEntry, BankMatch, HashBank, ImageHash
from moderation.health.models import InferenceWorker
from moderation.outbox.models import OutboxMessage
from moderation.policies.models import (
    BacktestItem,
    BacktestRun,
    Policy,
    PolicyDraft,
    PolicyRelease,
    PolicyVersion,
)
from moderation.review.models import Review, ReviewClaim, ReviewerDisplay
from moderation.storage.base import Base
from moderation.submissions.models import (
    Appeal,
    Decision,
    FrameVerdict,
    IdempotencyKey,
    Image,
    Submission,
)
from moderation.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage

__all__ = [
    "ApiKey",
    "Appeal",
    "AuditChainHead",
    "AuditEvent",
    "BacktestItem",
    "BacktestRun",
    "BankEntry",
    "BankMatch",
    "Base",
    "Decision",
    "FrameVerdict",
    "HashBank",
    "IdempotencyKey",
    "Image",
    "ImageHash",
    "InferenceWorker",
    "OutboxMessage",
    "Policy",
    "PolicyDraft",
    "PolicyRelease",
    "PolicyVersion",
    "Review",
    "ReviewClaim",
    "ReviewerDisplay",
    "Submission",
    "Tenant",
    "User",
    "UserSession",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMessage",
]

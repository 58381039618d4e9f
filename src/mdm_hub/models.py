"""Every feature's tables, imported once so that alembic and tests see the whole schema."""

from mdm_hub.audit.models import AuditEntry
from mdm_hub.custom_fields.models import CustomFieldDefinition, RankRuleRow
from mdm_hub.customers.models import Customer, SourceRecord
from mdm_hub.db import Base
from mdm_hub.events.models import (
    CustomerEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookFanoutCursor,
    WebhookQueue,
)
from mdm_hub.hierarchy.models import CustomerRelation
from mdm_hub.idempotency.models import IdempotencyRecord
from mdm_hub.matching.models import DistinctPair, MatchCandidate, MatchKey, MergeLog
from mdm_hub.privacy.models import AccessLogEntry, Erasure, HeldWrite, PrivacyKey, Suppression
from mdm_hub.registry.models import (
    InvoiceRegistration,
    InvoiceRegistrationHistory,
    NtaCorporation,
    NtaCorporationHistory,
    RegistryImport,
    RegistryImportReject,
)

__all__ = [
    "AccessLogEntry",
    "AuditEntry",
    "Base",
    "CustomFieldDefinition",
    "Customer",
    "CustomerEvent",
    "CustomerRelation",
    "DistinctPair",
    "Erasure",
    "HeldWrite",
    "IdempotencyRecord",
    "InvoiceRegistration",
    "InvoiceRegistrationHistory",
    "MatchCandidate",
    "MatchKey",
    "MergeLog",
    "NtaCorporation",
    "NtaCorporationHistory",
    "PrivacyKey",
    "RankRuleRow",
    "RegistryImport",
    "RegistryImportReject",
    "SourceRecord",
    "Suppression",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookFanoutCursor",
    "WebhookQueue",
]

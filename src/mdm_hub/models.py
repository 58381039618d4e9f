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
from mdm_hub.governance.models import ChangeRequest, ProtectedField
from mdm_hub.hierarchy.models import CustomerRelation
from mdm_hub.idempotency.models import IdempotencyRecord
from mdm_hub.imports.models import (
    ImportFileChunk,
    ImportJob,
    ImportMapping,
    ImportPartition,
    ImportRow,
)
from mdm_hub.matching.models import DistinctPair, MatchCandidate, MatchKey, MergeLog
from mdm_hub.privacy.models import (
    AccessLogEntry,
    DataKey,
    Erasure,
    HeldWrite,
    PrivacyKey,
    Suppression,
)
from mdm_hub.quality.models import (
    QualityCount,
    QualityCountDelta,
    QualityFinding,
    QualityKpiSnapshot,
    QualityRulePolicy,
)
from mdm_hub.registry.models import (
    InvoiceRegistration,
    InvoiceRegistrationHistory,
    NtaCorporation,
    NtaCorporationHistory,
    RegistryImport,
    RegistryImportReject,
    RegistryLink,
    RegistryMatchCheck,
    RegistryProposal,
)

__all__ = [
    "AccessLogEntry",
    "AuditEntry",
    "Base",
    "ChangeRequest",
    "CustomFieldDefinition",
    "Customer",
    "CustomerEvent",
    "CustomerRelation",
    "DataKey",
    "DistinctPair",
    "Erasure",
    "HeldWrite",
    "IdempotencyRecord",
    "ImportFileChunk",
    "ImportJob",
    "ImportMapping",
    "ImportPartition",
    "ImportRow",
    "InvoiceRegistration",
    "InvoiceRegistrationHistory",
    "MatchCandidate",
    "MatchKey",
    "MergeLog",
    "NtaCorporation",
    "NtaCorporationHistory",
    "PrivacyKey",
    "ProtectedField",
    "QualityCount",
    "QualityCountDelta",
    "QualityFinding",
    "QualityKpiSnapshot",
    "QualityRulePolicy",
    "RankRuleRow",
    "RegistryImport",
    "RegistryImportReject",
    "RegistryLink",
    "RegistryMatchCheck",
    "RegistryProposal",
    "SourceRecord",
    "Suppression",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookFanoutCursor",
    "WebhookQueue",
]

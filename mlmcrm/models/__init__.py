"""SQLModel tables by domain. Importing this package registers every table on SQLModel.metadata."""

from sqlmodel import SQLModel

from mlmcrm.models.accounts import (
    AccountToken,
    ApiToken,
    EnrolmentApplication,
    LoginAttempt,
    RecoveryCode,
    ThrottleHit,
    TotpEnrolment,
    TwoFactorFailure,
)
from mlmcrm.models.audit import AuditLog
from mlmcrm.models.base import NAMING_CONVENTION
from mlmcrm.models.catalog import Product, ProductCategory
from mlmcrm.models.commerce import (
    AutoshipItem,
    AutoshipSubscription,
    ShopVisit,
    StripeEvent,
    TaxRate,
)
from mlmcrm.models.commissions import (
    CommissionAdjustment,
    CommissionEstimate,
    CommissionEstimateStat,
    CommissionLedger,
    CommissionPeriod,
    CommissionPeriodFigures,
    CommissionPeriodInputs,
    CommissionPeriodStat,
    CommissionWhatIf,
    CompPlan,
    create_ledger_partition,
    ledger_partition_name,
)
from mlmcrm.models.compliance import (
    ComplianceCase,
    ComplianceCaseEvent,
    Erasure,
    PrivacyRequest,
)
from mlmcrm.models.crm import (
    Contact,
    ContactActivity,
    ContactImport,
    ContactImportChange,
    ContactPoint,
    Customer,
    OfflineChange,
    Task,
)
from mlmcrm.models.genealogy import GenealogyNode, HoldingTankEntry, SponsorCompression
from mlmcrm.models.jobs import Job
from mlmcrm.models.messaging import (
    EmailSuppression,
    Message,
    MessageAttempt,
    MessageCampaign,
    MessagePreference,
    MessageTemplate,
    PushSubscription,
    SmsConsent,
    SmsInbound,
    SmsOptOut,
)
from mlmcrm.models.network import Distributor, Rank
from mlmcrm.models.orders import Order, OrderItem, OrderRefund
from mlmcrm.models.payouts import (
    Payout,
    PayoutBatch,
    PayoutBatchHold,
    PayoutHold,
    PayoutMethod,
    SanctionsEntry,
    WalletEntry,
)
from mlmcrm.models.reports import ReportPeriod, ReportPeriodNetwork, ReportPeriodOrders
from mlmcrm.models.settings import CompanySetting
from mlmcrm.models.tax import IdentityCheck, IdentityProviderEvent, TaxCertification, TaxForm1099
from mlmcrm.models.users import User, UserProfile, UserSession

metadata = SQLModel.metadata

__all__ = [
    "NAMING_CONVENTION",
    "AccountToken",
    "ApiToken",
    "AuditLog",
    "ComplianceCaseEvent",
    "Erasure",
    "PrivacyRequest",
    "IdentityCheck",
    "IdentityProviderEvent",
    "TaxCertification",
    "TaxForm1099",
    "AutoshipItem",
    "AutoshipSubscription",
    "CommissionAdjustment",
    "CommissionEstimate",
    "CommissionEstimateStat",
    "CommissionLedger",
    "CommissionPeriod",
    "CommissionPeriodFigures",
    "CommissionPeriodInputs",
    "CommissionPeriodStat",
    "CommissionWhatIf",
    "CompPlan",
    "CompanySetting",
    "ComplianceCase",
    "Contact",
    "ContactActivity",
    "ContactImport",
    "ContactImportChange",
    "ContactPoint",
    "Customer",
    "Distributor",
    "EmailSuppression",
    "EnrolmentApplication",
    "GenealogyNode",
    "HoldingTankEntry",
    "Job",
    "LoginAttempt",
    "Message",
    "OfflineChange",
    "MessageAttempt",
    "MessageCampaign",
    "MessagePreference",
    "MessageTemplate",
    "Order",
    "OrderItem",
    "OrderRefund",
    "Payout",
    "PayoutBatch",
    "PayoutBatchHold",
    "PayoutHold",
    "PayoutMethod",
    "SanctionsEntry",
    "WalletEntry",
    "Product",
    "ProductCategory",
    "PushSubscription",
    "Rank",
    "RecoveryCode",
    "ReportPeriod",
    "ReportPeriodNetwork",
    "ReportPeriodOrders",
    "ShopVisit",
    "SmsConsent",
    "SmsInbound",
    "SmsOptOut",
    "SponsorCompression",
    "StripeEvent",
    "Task",
    "TaxRate",
    "ThrottleHit",
    "TotpEnrolment",
    "TwoFactorFailure",
    "User",
    "UserProfile",
    "UserSession",
    "create_ledger_partition",
    "ledger_partition_name",
    "metadata",
]

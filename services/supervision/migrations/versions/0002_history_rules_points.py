"""History projections for the rule windows, the rule library and knowledge base as data,
flag withdrawal, and practitioner points (医保医师记分).

The rule library is seeded here as the active versions (version 1 of every rule); later
versions are new rows, activated by flipping `active`. The seed rows mirror
`services.supervision.service.LIBRARY` (a unit test keeps the two equal) but are written out
literally: a landed migration must not change when the code does.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_START = date(2025, 1, 1)
_ALL = ["in", "post", "pre"]
_POST = ["post"]

# (rule_id, family, stages, severity, parameters, window_days)
RULE_SEED: list[tuple[str, str, list[str], str, dict[str, object], int | None]] = [
    ("QTY-MAX-LINE", "medical", _ALL, "warn", {"max_quantity": 30}, None),
    ("SEX-CONFLICT", "medical", _ALL, "refuse", {}, None),
    ("AGE-CONFLICT", "medical", _ALL, "refuse", {}, None),
    ("INST-LEVEL", "policy", _ALL, "refuse", {}, None),
    ("QTY-MAX-DAY", "medical", _ALL, "warn", {}, None),
    ("DUP-CHARGE", "management", _ALL, "refuse", {}, 1),
    ("UNBUNDLE", "management", _ALL, "warn", {}, 1),
    ("PRICE-LIMIT", "policy", _ALL, "refuse", {}, None),
    ("SPLIT-ADMISSION", "management", _POST, "warn", {"readmission_days": 15, "same_institution": True}, 15),
    ("PHANTOM-BED", "management", ["in", "post"], "warn", {}, 366),
    ("TRACE-RESOLD", "management", _ALL, "refuse", {}, None),
    ("AFTER-DEATH", "management", _ALL, "refuse", {}, None),
    (
        "DOCTOR-SHOPPING",
        "management",
        _ALL,
        "warn",
        {"window_days": 90, "min_prescribers": 5, "min_institutions": 5},
        90,
    ),
    (
        "LTC-DURING-STAY",
        "policy",
        _POST,
        "warn",
        {"include_admission_day": False, "include_discharge_day": False},
        366,
    ),
    ("PEER-OUTLIER", "medical", _POST, "warn", {"z_threshold": 3, "min_peers": 5}, None),
]

# Demo knowledge base (知识库): a handful of items with the restrictions the rules read.
# (item_code, sex, min_age, max_age, min_level, max_qty_per_day, limit_price, components, drug_group)
RESTRICTION_SEED: list[
    tuple[str, str | None, int | None, int | None, int | None, int | None, Decimal | None, list[str], str | None]
] = [
    ("XG03DA0010101", "F", None, None, None, None, None, [], "G03DA"),  # 黄体酮注射液: women only
    ("XG04CA0010101", "M", None, None, None, None, None, [], "G04CA"),  # 坦索罗辛缓释胶囊: men only
    ("XN02BE0010301", None, 12, None, None, 4, Decimal("3.20"), [], "N02BE"),  # 对乙酰氨基酚片: 12+, 4 a day
    ("XN05BA0010101", None, None, None, None, 3, Decimal("1.50"), [], "N05BA"),  # 地西泮片: a controlled drug
    ("XN02AA0010101", None, 18, None, None, 6, Decimal("8.00"), [], "N02AA"),  # 吗啡片: opioid
    ("331001001", None, None, None, 2, None, Decimal("2800.00"), [], None),  # 腹腔镜胆囊切除: level 2+
    ("120400001", None, None, None, None, None, Decimal("260.00"), ["120400002", "120400003"], None),  # 血透套餐
    ("120400002", None, None, None, None, None, Decimal("120.00"), [], None),  # 血液透析 (component)
    ("120400003", None, None, None, None, None, Decimal("90.00"), [], None),  # 透析器 (component)
    ("250101001", None, None, None, None, None, Decimal("40.00"), [], None),  # 血常规
]

# Points per finding by (rule family, severity): sanctions.DEFAULT_POINTS as data.
POINTS_SEED: list[tuple[str, str, int]] = [
    ("policy", "info", 0),
    ("policy", "warn", 1),
    ("policy", "refuse", 2),
    ("management", "info", 0),
    ("management", "warn", 2),
    ("management", "refuse", 4),
    ("medical", "info", 0),
    ("medical", "warn", 1),
    ("medical", "refuse", 3),
]


def upgrade() -> None:
    # -- flags can be withdrawn; a reversal seen before its claim leaves an audit row without a doctor
    op.add_column("flags", sa.Column("status", sa.String(12), nullable=False, server_default="active"))
    op.add_column("flags", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("audit_results", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    op.alter_column("audit_results", "practitioner_code", existing_type=sa.String(30), nullable=True)
    op.create_index("ix_flags_rule_created", "flags", ["rule_id", "created_at"])

    # -- the rule library (规则库) and knowledge base (知识库) as data
    rule_versions = op.create_table(
        "rule_versions",
        sa.Column("rule_id", sa.String(50), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("family", sa.String(20), nullable=False),
        sa.Column("stages", postgresql.ARRAY(sa.String(4)), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("parameters", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("scope", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("window_days", sa.Integer(), nullable=True),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("severity IN ('info', 'warn', 'refuse')", name="ck_rule_versions_severity"),
    )
    # At most one active version of a rule.
    op.create_index(
        "uq_rule_versions_active", "rule_versions", ["rule_id"], unique=True, postgresql_where=sa.text("active")
    )
    op.bulk_insert(
        rule_versions,
        [
            {
                "rule_id": rule_id,
                "version": 1,
                "family": family,
                "stages": stages,
                "severity": severity,
                "parameters": parameters,
                "scope": {},
                "window_days": window,
                "effective_from": _START,
                "effective_to": None,
                "active": True,
            }
            for rule_id, family, stages, severity, parameters, window in RULE_SEED
        ],
    )
    item_restrictions = op.create_table(
        "item_restrictions",
        sa.Column("item_code", sa.Text(), primary_key=True),
        sa.Column("sex", sa.String(1), nullable=True),
        sa.Column("min_age", sa.Integer(), nullable=True),
        sa.Column("max_age", sa.Integer(), nullable=True),
        sa.Column("min_institution_level", sa.Integer(), nullable=True),
        sa.Column("max_quantity_per_day", sa.Integer(), nullable=True),
        sa.Column("limit_price", sa.Numeric(14, 2), nullable=True),
        sa.Column("components", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("drug_group", sa.String(20), nullable=True),
    )
    op.bulk_insert(
        item_restrictions,
        [
            {
                "item_code": code,
                "sex": sex,
                "min_age": min_age,
                "max_age": max_age,
                "min_institution_level": level,
                "max_quantity_per_day": per_day,
                "limit_price": limit,
                "components": components,
                "drug_group": group,
            }
            for code, sex, min_age, max_age, level, per_day, limit, components, group in RESTRICTION_SEED
        ],
    )

    # -- history projections, fed by events, indexed for the rule windows
    op.create_table(
        "persons",
        sa.Column("person_no", sa.String(12), primary_key=True),
        sa.Column("sex", sa.String(1), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("died_on", sa.Date(), nullable=True),
    )
    op.create_table(
        "claim_history",
        sa.Column("settlement_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("person_no", sa.String(12), nullable=False),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("practitioner_code", sa.String(30), nullable=False),
        sa.Column("visit_type", sa.String(12), nullable=False),
        sa.Column("admitted_on", sa.Date(), nullable=False),
        sa.Column("discharged_on", sa.Date(), nullable=False),
        sa.Column("diagnoses", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("item_codes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("total", sa.Numeric(14, 2), nullable=False),
        sa.Column("institution_level", sa.Integer(), nullable=True),
        sa.Column("diagnosis_group", sa.String(3), nullable=True),
        sa.Column("region_code", sa.Text(), nullable=True),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.Column("claim", postgresql.JSONB(), nullable=False),
    )
    # Codes from events are Text: settlement bounds some of them differently, and an event must never fail on a length.
    # Rule windows look at one person's claims ending on or after a day; backtests by settled day.
    op.create_index("ix_claim_history_person_discharged", "claim_history", ["person_no", "discharged_on"])
    op.create_index("ix_claim_history_settled_on", "claim_history", ["settled_on"])
    op.create_table(
        "drug_purchases",
        sa.Column("settlement_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("drug_group", sa.String(20), primary_key=True),
        sa.Column("person_no", sa.String(12), nullable=False),
        sa.Column("practitioner_code", sa.String(30), nullable=False),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("purchased_on", sa.Date(), nullable=False),
    )
    op.create_index("ix_drug_purchases_person_group_day", "drug_purchases", ["person_no", "drug_group", "purchased_on"])
    op.create_table(
        "traceability_codes",
        sa.Column("code", sa.Text(), primary_key=True),  # unique: a code is one unit, sold once
        sa.Column("settlement_id", postgresql.UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("person_no", sa.String(12), nullable=False),
        sa.Column("sold_on", sa.Date(), nullable=False),
    )
    op.create_table(
        "ltc_services",
        sa.Column("visit_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("person_no", sa.String(12), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
    )
    op.create_index("ix_ltc_services_person_day", "ltc_services", ["person_no", "service_date"])
    op.create_table(
        "institution_costs",
        sa.Column("institution_code", sa.String(20), primary_key=True),
        sa.Column("institution_level", sa.Integer(), primary_key=True),
        sa.Column("diagnosis_group", sa.String(3), primary_key=True),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("total_cost", sa.Numeric(16, 2), nullable=False),
    )
    op.create_index("ix_institution_costs_peers", "institution_costs", ["institution_level", "diagnosis_group"])
    op.create_table(
        "institutions",
        sa.Column("institution_code", sa.String(20), primary_key=True),
        sa.Column("institution_level", sa.Integer(), nullable=True),
        sa.Column("institution_type", sa.Text(), nullable=True),
        sa.Column("region_code", sa.Text(), nullable=True),
    )

    # -- 医保医师记分
    points_parameters = op.create_table(
        "points_parameters",
        sa.Column("family", sa.String(20), primary_key=True),
        sa.Column("severity", sa.String(10), primary_key=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.CheckConstraint("points >= 0", name="ck_points_parameters_points"),
    )
    op.bulk_insert(
        points_parameters,
        [{"family": family, "severity": severity, "points": points} for family, severity, points in POINTS_SEED],
    )
    op.create_table(
        "practitioners",
        sa.Column("practitioner_code", sa.String(30), primary_key=True),
        sa.Column("institution_code", sa.String(20), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reached", postgresql.ARRAY(sa.String(12)), nullable=False, server_default="{}"),
        sa.Column("status", sa.String(12), nullable=False, server_default="active"),
        sa.Column("suspended_from", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "practitioner_points",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("practitioner_code", sa.String(30), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("settlement_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("flag_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("flags.id"), nullable=False),
        sa.Column("rule_id", sa.String(50), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),  # negative when a reversal withdraws the flag
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_practitioner_points_code_year", "practitioner_points", ["practitioner_code", "year"])


def downgrade() -> None:
    op.drop_table("practitioner_points")
    op.drop_table("practitioners")
    op.drop_table("points_parameters")
    op.drop_table("institutions")
    op.drop_table("institution_costs")
    op.drop_table("ltc_services")
    op.drop_table("traceability_codes")
    op.drop_table("drug_purchases")
    op.drop_table("claim_history")
    op.drop_table("persons")
    op.drop_table("item_restrictions")
    op.drop_table("rule_versions")
    op.drop_index("ix_flags_rule_created", "flags")
    op.alter_column("audit_results", "practitioner_code", existing_type=sa.String(30), nullable=False)
    op.drop_column("audit_results", "withdrawn_at")
    op.drop_column("flags", "withdrawn_at")
    op.drop_column("flags", "status")

"""Restrictions (限定支付范围) on catalogue items. Pure: lines in, decisions and adjusted lines out.

A line breaking a restriction is not refused outright: it leaves the policy scope and is paid by the
person (全自费), which is what `calculate` does with a line carrying `self_pay_reason`. Only lines
that cannot be settled at all (quantity not positive, negative price) are refused.

- sex, age, institution level not met → the whole line is self-paid;
- quantity above max per day × days or max per stay → the excess quantity is self-paid (the line
  is split: the allowed quantity stays in scope);
- item not valid on the date (目录有效期) or another region's item → self-paid, as out of catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Literal

from services.settlement.service import CatalogueItem, LineInput

Outcome = Literal["in_scope", "self_paid", "partly_self_paid", "refused"]


@dataclass(frozen=True)
class LineDecision:
    line_no: int  # 1-based, in the order given
    item_code: str
    outcome: Outcome
    reasons: tuple[str, ...] = ()
    self_paid_quantity: int = 0


@dataclass(frozen=True)
class RestrictionResult:
    lines: tuple[LineInput, ...]  # to settle: refused lines dropped, split lines in two
    decisions: tuple[LineDecision, ...]

    @property
    def refused(self) -> tuple[LineDecision, ...]:
        return tuple(d for d in self.decisions if d.outcome == "refused")


def check_restrictions(
    lines: list[LineInput] | tuple[LineInput, ...],
    catalogue: dict[str, CatalogueItem],
    *,
    sex: Literal["M", "F"],
    age: int,
    institution_level: int,
    days: int,
    on_date: date | None = None,
    region: str | None = None,
) -> RestrictionResult:
    """Check every line against its catalogue item's 限定支付范围.

    `days` is the length of the visit or stay (住院天数; 1 for an outpatient visit); quantities are
    summed per item code across lines for the per-day and per-stay limits, in line order.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    out: list[LineInput] = []
    decisions: list[LineDecision] = []
    used: dict[str, int] = {}  # quantity already in scope per item code
    for line_no, line in enumerate(lines, start=1):
        if line.quantity <= 0 or line.unit_price < Decimal("0"):
            decisions.append(
                LineDecision(line_no, line.item_code, "refused", ("quantity must be positive and price not negative",))
            )
            continue
        item = catalogue.get(line.item_code)
        if item is None:  # 目录外: calculate already makes it 全自费
            out.append(line)
            decisions.append(LineDecision(line_no, line.item_code, "self_paid", ("not in the catalogue (目录外)",)))
            continue
        whole: list[str] = []
        if on_date is not None and (
            (item.valid_from is not None and on_date < item.valid_from)
            or (item.valid_to is not None and on_date > item.valid_to)
        ):
            whole.append(f"not valid on {on_date} (目录有效期 {item.valid_from or ''}..{item.valid_to or ''})")
        if region is not None and item.region and item.region != region:
            whole.append(f"catalogue item of region {item.region}, not {region}")
        if item.sex is not None and sex != item.sex:
            whole.append(f"限{'男' if item.sex == 'M' else '女'}性 (patient {sex})")
        if item.min_age is not None and age < item.min_age:
            whole.append(f"限{item.min_age}岁及以上 (age {age})")
        if item.max_age is not None and age > item.max_age:
            whole.append(f"限{item.max_age}岁及以下 (age {age})")
        if item.min_institution_level is not None and institution_level < item.min_institution_level:
            whole.append(f"限{item.min_institution_level}级及以上医疗机构 (level {institution_level})")
        if whole:
            reason = "; ".join(whole)
            out.append(replace(line, self_pay_reason=reason))
            decisions.append(LineDecision(line_no, line.item_code, "self_paid", tuple(whole), line.quantity))
            continue
        limits: list[tuple[int, str]] = []
        if item.max_qty_per_day is not None:
            limits.append((item.max_qty_per_day * days, f"限每日{item.max_qty_per_day} × {days}天"))
        if item.max_qty_per_stay is not None:
            limits.append((item.max_qty_per_stay, f"限每次{item.max_qty_per_stay}"))
        already = used.get(line.item_code, 0)
        allowed = line.quantity
        reasons: list[str] = []
        for limit, text in limits:
            room = max(0, limit - already)
            if room < allowed:
                allowed = room
                reasons.append(f"{text}: {already} already, {room} more allowed")
        used[line.item_code] = already + allowed
        excess = line.quantity - allowed
        if excess == 0:
            out.append(line)
            decisions.append(LineDecision(line_no, line.item_code, "in_scope"))
            continue
        reason = "; ".join(reasons)
        if allowed > 0:
            out.append(replace(line, quantity=allowed))
            out.append(replace(line, quantity=excess, self_pay_reason=f"超量 {reason}"))
            decisions.append(LineDecision(line_no, line.item_code, "partly_self_paid", tuple(reasons), excess))
        else:
            out.append(replace(line, self_pay_reason=f"超量 {reason}"))
            decisions.append(LineDecision(line_no, line.item_code, "self_paid", tuple(reasons), excess))
    return RestrictionResult(lines=tuple(out), decisions=tuple(decisions))

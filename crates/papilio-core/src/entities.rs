//! The master data 基础资料 every business area reads: units, items, warehouses, partners,
//! people and money.
//!
//! Entities refer to each other by code (an item's `base_unit` holds `PCS`); codes are
//! upper-case and never change once created, so a reference stays valid and an export stays
//! readable. Rows that others may refer to are deactivated, not deleted.

use rust_decimal::Decimal;

use crate::error::FieldError;
use crate::schema::{EntityDef, FieldDef, FieldKind, Record, Value};

const CODE: FieldKind = FieldKind::Code { max: 32 };
const NAME: FieldKind = FieldKind::Text { max: 120 };
const SHORT: FieldKind = FieldKind::Text { max: 64 };
const LONG: FieldKind = FieldKind::Text { max: 500 };
const QTY: FieldKind = FieldKind::Decimal { scale: 6, positive: false };
const MONEY: FieldKind = FieldKind::Decimal { scale: 6, positive: false };
const RATE: FieldKind = FieldKind::Decimal { scale: 6, positive: true };
const DAYS: FieldKind = FieldKind::Int { min: 0, max: 3650 };
const PRICE: FieldKind = FieldKind::Decimal { scale: 6, positive: false };
const POSITIVE_QTY: FieldKind = FieldKind::Decimal { scale: 6, positive: true };
const PERCENT: FieldKind = FieldKind::Decimal { scale: 4, positive: false };

const fn code() -> FieldDef {
    FieldDef::new("code", CODE).required().listed()
}
const fn name_zh() -> FieldDef {
    FieldDef::new("name_zh", NAME).required().listed()
}
const fn name_en() -> FieldDef {
    FieldDef::new("name_en", NAME).required().listed()
}
const fn active() -> FieldDef {
    FieldDef::new("active", FieldKind::Bool).default("true").listed()
}

/// Item types 物料属性.
pub const ITEM_TYPES: &[&str] = &["purchased", "manufactured", "outsourced", "service"];
/// Lot-sizing rules used by planning.
pub const LOT_SIZING: &[&str] = &["lot_for_lot", "fixed", "min_multiple"];

/// Currencies 币别 (ISO 4217).
pub const CURRENCY: EntityDef = EntityDef {
    kind: "currency",
    table: "currencies",
    area: "finance",
    fields: &[
        FieldDef::new("code", FieldKind::Code { max: 3 }).required().listed(),
        name_zh(),
        name_en(),
        FieldDef::new("symbol", FieldKind::Text { max: 8 }).listed(),
        FieldDef::new("decimals", FieldKind::Int { min: 0, max: 4 }).default("2").listed(),
        active(),
    ],
    unique: &[],
    check: None,
};

/// Exchange rates 汇率: base-currency units per one unit of `currency`, from `rate_date` on.
pub const EXCHANGE_RATE: EntityDef = EntityDef {
    kind: "exchange_rate",
    table: "exchange_rates",
    area: "finance",
    fields: &[
        FieldDef::new("currency", FieldKind::Ref("currency")).required().listed(),
        FieldDef::new("rate_date", FieldKind::Date).required().listed(),
        FieldDef::new("rate", RATE).required().listed(),
    ],
    unique: &[&["currency", "rate_date"]],
    check: None,
};

/// Units of measure 计量单位.
pub const UNIT: EntityDef = EntityDef {
    kind: "unit",
    table: "units",
    area: "engineering",
    fields: &[
        FieldDef::new("code", FieldKind::Code { max: 16 }).required().listed(),
        name_zh(),
        name_en(),
        FieldDef::new("decimals", FieldKind::Int { min: 0, max: 6 }).default("0").listed(),
        active(),
    ],
    unique: &[],
    check: None,
};

/// Unit conversions 单位换算: one `from_unit` is `factor` `to_unit`s; global when `item` is
/// empty, else only for that item (a box of 12).
pub const UNIT_CONVERSION: EntityDef = EntityDef {
    kind: "unit_conversion",
    table: "unit_conversions",
    area: "engineering",
    fields: &[
        FieldDef::new("item", FieldKind::Ref("item")).listed(),
        FieldDef::new("from_unit", FieldKind::Ref("unit")).required().listed(),
        FieldDef::new("to_unit", FieldKind::Ref("unit")).required().listed(),
        FieldDef::new("factor", RATE).required().listed(),
    ],
    unique: &[&["item", "from_unit", "to_unit"]],
    check: Some(check_conversion),
};

fn check_conversion(r: &Record) -> Vec<FieldError> {
    if r.get("from_unit") == r.get("to_unit") {
        vec![FieldError::new("to_unit", "unit.same_as_from")]
    } else {
        Vec::new()
    }
}

/// Item categories 物料类别, in a tree.
pub const ITEM_CATEGORY: EntityDef = EntityDef {
    kind: "item_category",
    table: "item_categories",
    area: "engineering",
    fields: &[
        code(),
        name_zh(),
        name_en(),
        FieldDef::new("parent", FieldKind::Ref("item_category")).listed(),
        active(),
    ],
    unique: &[],
    check: None,
};

/// Items 物料: everything bought, made, subcontracted or sold.
pub const ITEM: EntityDef = EntityDef {
    kind: "item",
    table: "items",
    area: "engineering",
    fields: &[
        code(),
        name_zh(),
        name_en(),
        FieldDef::new("category", FieldKind::Ref("item_category")).listed(),
        FieldDef::new("item_type", FieldKind::Choice(ITEM_TYPES)).required().listed(),
        FieldDef::new("base_unit", FieldKind::Ref("unit")).required().listed(),
        FieldDef::new("purchase_unit", FieldKind::Ref("unit")),
        FieldDef::new("sales_unit", FieldKind::Ref("unit")),
        FieldDef::new("lot_tracked", FieldKind::Bool),
        FieldDef::new("lead_time_days", DAYS).default("0"),
        FieldDef::new("safety_stock", QTY).default("0"),
        FieldDef::new("reorder_point", QTY).default("0"),
        FieldDef::new("max_stock", QTY),
        FieldDef::new("lot_sizing", FieldKind::Choice(LOT_SIZING)).default("lot_for_lot"),
        FieldDef::new("fixed_lot", QTY),
        FieldDef::new("min_lot", QTY),
        FieldDef::new("lot_multiple", QTY),
        FieldDef::new("standard_cost", MONEY).default("0").listed(),
        FieldDef::new("default_warehouse", FieldKind::Ref("warehouse")),
        FieldDef::new("floor_price", PRICE),
        FieldDef::new("max_order_qty", POSITIVE_QTY),
        active(),
    ],
    unique: &[],
    check: Some(check_item),
};

fn dec(r: &Record, name: &str) -> Option<Decimal> {
    r.get(name).and_then(Value::as_dec)
}

fn check_item(r: &Record) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let (Some(max), Some(reorder)) = (dec(r, "max_stock"), dec(r, "reorder_point"))
        && max < reorder
    {
        {
            errors
                .push(FieldError::new("max_stock", "item.max_below_reorder").with("min", reorder));
        }
    }
    if let (Some(reorder), Some(safety)) = (dec(r, "reorder_point"), dec(r, "safety_stock"))
        && reorder < safety
        && !reorder.is_zero()
    {
        {
            errors.push(
                FieldError::new("reorder_point", "item.reorder_below_safety").with("min", safety),
            );
        }
    }
    let sizing = r.get("lot_sizing").and_then(Value::as_text);
    if sizing == Some("fixed") && dec(r, "fixed_lot").is_none_or(|q| q.is_zero()) {
        errors.push(FieldError::new("fixed_lot", "item.fixed_lot_required"));
    }
    if sizing == Some("min_multiple")
        && dec(r, "min_lot").is_none()
        && dec(r, "lot_multiple").is_none()
    {
        errors.push(FieldError::new("min_lot", "item.min_or_multiple_required"));
    }
    errors
}

/// Warehouses 仓库. Negative stock is forbidden unless `allow_negative` says otherwise.
pub const WAREHOUSE: EntityDef = EntityDef {
    kind: "warehouse",
    table: "warehouses",
    area: "inventory",
    fields: &[
        code(),
        name_zh(),
        name_en(),
        FieldDef::new("address", LONG),
        FieldDef::new("allow_negative", FieldKind::Bool).default("false").listed(),
        active(),
    ],
    unique: &[],
    check: None,
};

/// Bin locations 仓位. Bin codes are unique company-wide; by convention they start with the
/// warehouse code (`FG-A01-02`).
pub const BIN: EntityDef = EntityDef {
    kind: "bin",
    table: "bins",
    area: "inventory",
    fields: &[
        code(),
        FieldDef::new("warehouse", FieldKind::Ref("warehouse")).required().listed(),
        FieldDef::new("name", SHORT).listed(),
        active(),
    ],
    unique: &[],
    check: None,
};

/// Payment terms 付款条件.
pub const PAYMENT_TERM: EntityDef = EntityDef {
    kind: "payment_term",
    table: "payment_terms",
    area: "finance",
    fields: &[
        code(),
        name_zh(),
        name_en(),
        FieldDef::new("days", DAYS).required().listed(),
        active(),
    ],
    unique: &[],
    check: None,
};

/// Customer groups 客户分组, which carry price policies and a group credit limit.
pub const CUSTOMER_GROUP: EntityDef = EntityDef {
    kind: "customer_group",
    table: "customer_groups",
    area: "sales",
    fields: &[
        code(),
        name_zh(),
        name_en(),
        FieldDef::new("credit_limit", MONEY).listed(),
        FieldDef::new("max_discount_pct", PERCENT).listed(),
        active(),
    ],
    unique: &[],
    check: None,
};

/// Customers 客户档案.
pub const CUSTOMER: EntityDef = EntityDef {
    kind: "customer",
    table: "customers",
    area: "sales",
    fields: &[
        code(),
        name_zh(),
        name_en(),
        FieldDef::new("customer_group", FieldKind::Ref("customer_group")).listed(),
        FieldDef::new("currency", FieldKind::Ref("currency")).required().listed(),
        FieldDef::new("payment_term", FieldKind::Ref("payment_term")),
        FieldDef::new("credit_limit", MONEY).listed(),
        FieldDef::new("salesperson", FieldKind::Ref("employee")).listed(),
        FieldDef::new("tax_id", SHORT),
        FieldDef::new("phone", SHORT),
        FieldDef::new("email", SHORT),
        active(),
    ],
    unique: &[],
    check: Some(check_email),
};

fn check_email(r: &Record) -> Vec<FieldError> {
    match r.get("email").and_then(Value::as_text) {
        Some(email) if !looks_like_email(email) => {
            vec![FieldError::new("email", "field.bad_email")]
        }
        _ => Vec::new(),
    }
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((user, host)) => !user.is_empty() && host.contains('.') && !s.contains(' '),
        None => false,
    }
}

/// Contact people of a customer.
pub const CUSTOMER_CONTACT: EntityDef = EntityDef {
    kind: "customer_contact",
    table: "customer_contacts",
    area: "sales",
    fields: &[
        FieldDef::new("customer", FieldKind::Ref("customer")).required().listed(),
        FieldDef::new("name", SHORT).required().listed(),
        FieldDef::new("title", SHORT).listed(),
        FieldDef::new("phone", SHORT).listed(),
        FieldDef::new("email", SHORT).listed(),
    ],
    unique: &[],
    check: Some(check_email),
};

/// Address kinds of a customer address.
pub const ADDRESS_KINDS: &[&str] = &["billing", "shipping"];

/// Billing and shipping addresses of a customer.
pub const CUSTOMER_ADDRESS: EntityDef = EntityDef {
    kind: "customer_address",
    table: "customer_addresses",
    area: "sales",
    fields: &[
        FieldDef::new("customer", FieldKind::Ref("customer")).required().listed(),
        FieldDef::new("kind", FieldKind::Choice(ADDRESS_KINDS)).required().listed(),
        FieldDef::new("line1", LONG).required().listed(),
        FieldDef::new("city", SHORT).listed(),
        FieldDef::new("province", SHORT),
        FieldDef::new("postcode", FieldKind::Text { max: 16 }),
        FieldDef::new("country", FieldKind::Text { max: 2 }).default("CN"),
    ],
    unique: &[],
    check: None,
};

/// Suppliers 供应商.
pub const SUPPLIER: EntityDef = EntityDef {
    kind: "supplier",
    table: "suppliers",
    area: "purchasing",
    fields: &[
        code(),
        name_zh(),
        name_en(),
        FieldDef::new("currency", FieldKind::Ref("currency")).required().listed(),
        FieldDef::new("payment_term", FieldKind::Ref("payment_term")),
        FieldDef::new("lead_time_days", DAYS).default("0").listed(),
        FieldDef::new("tax_id", SHORT),
        FieldDef::new("phone", SHORT),
        FieldDef::new("email", SHORT),
        active(),
    ],
    unique: &[],
    check: Some(check_email),
};

/// Contact people of a supplier.
pub const SUPPLIER_CONTACT: EntityDef = EntityDef {
    kind: "supplier_contact",
    table: "supplier_contacts",
    area: "purchasing",
    fields: &[
        FieldDef::new("supplier", FieldKind::Ref("supplier")).required().listed(),
        FieldDef::new("name", SHORT).required().listed(),
        FieldDef::new("title", SHORT).listed(),
        FieldDef::new("phone", SHORT).listed(),
        FieldDef::new("email", SHORT).listed(),
    ],
    unique: &[],
    check: Some(check_email),
};

/// Departments 部门, in a tree.
pub const DEPARTMENT: EntityDef = EntityDef {
    kind: "department",
    table: "departments",
    area: "admin",
    fields: &[
        code(),
        name_zh(),
        name_en(),
        FieldDef::new("parent", FieldKind::Ref("department")).listed(),
        active(),
    ],
    unique: &[],
    check: None,
};

/// Employees 职员, optionally linked to the user who signs in as them.
pub const EMPLOYEE: EntityDef = EntityDef {
    kind: "employee",
    table: "employees",
    area: "admin",
    fields: &[
        code(),
        FieldDef::new("name", SHORT).required().listed(),
        FieldDef::new("department", FieldKind::Ref("department")).listed(),
        FieldDef::new("title", SHORT).listed(),
        FieldDef::new("username", FieldKind::Ref("user")).listed(),
        FieldDef::new("order_amount_limit", PRICE),
        FieldDef::new("email", SHORT),
        FieldDef::new("phone", SHORT),
        active(),
    ],
    unique: &[&["username"]],
    check: Some(check_email),
};

/// Sales prices 价格表: a base list per currency, or a group's or a customer's own prices,
/// with quantity breaks, validity windows and specials (time-limited, or periodic on a weekday
/// or in the last days of each month). How one is picked: `papilio_core::pricing`.
pub const SALES_PRICE: EntityDef = EntityDef {
    kind: "sales_price",
    table: "sales_prices",
    area: "sales",
    fields: &[
        code(),
        FieldDef::new("item", FieldKind::Ref("item")).required().listed(),
        FieldDef::new("currency", FieldKind::Ref("currency")).required().listed(),
        FieldDef::new("customer_group", FieldKind::Ref("customer_group")).listed(),
        FieldDef::new("customer", FieldKind::Ref("customer")).listed(),
        FieldDef::new("min_qty", QTY).default("0").listed(),
        FieldDef::new("price", PRICE).required().listed(),
        FieldDef::new("valid_from", FieldKind::Date).listed(),
        FieldDef::new("valid_to", FieldKind::Date).listed(),
        FieldDef::new("special", FieldKind::Bool).listed(),
        FieldDef::new("weekday", FieldKind::Int { min: 1, max: 7 }),
        FieldDef::new("last_days", FieldKind::Int { min: 1, max: 28 }),
        active(),
    ],
    unique: &[],
    check: Some(check_sales_price),
};

fn check_sales_price(r: &Record) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let text = |name: &str| r.get(name).and_then(Value::as_text).is_some();
    if text("customer_group") && text("customer") {
        errors.push(FieldError::new("customer", "sales_price.group_or_customer"));
    }
    if dec(r, "price").is_some_and(|p| p < Decimal::ZERO) {
        errors.push(FieldError::new("price", "field.negative"));
    }
    if dec(r, "min_qty").is_some_and(|p| p < Decimal::ZERO) {
        errors.push(FieldError::new("min_qty", "field.negative"));
    }
    let periodic = |name: &str| r.get(name).is_some_and(|v| *v != Value::Null);
    let special = r.get("special").is_some_and(|v| *v == Value::Bool(true));
    if (periodic("weekday") || periodic("last_days")) && !special {
        errors.push(FieldError::new("special", "sales_price.periodic_is_special"));
    }
    if periodic("weekday") && periodic("last_days") {
        errors.push(FieldError::new("last_days", "sales_price.one_recurrence"));
    }
    check_window(r, &mut errors);
    errors
}

fn check_window(r: &Record, errors: &mut Vec<FieldError>) {
    let date = |name: &str| match r.get(name) {
        Some(Value::Date(d)) => Some(*d),
        _ => None,
    };
    if let (Some(from), Some(to)) = (date("valid_from"), date("valid_to"))
        && to < from
    {
        errors.push(FieldError::new("valid_to", "field.before_start").with("min", from));
    }
}

/// What a discount policy is granted for.
pub const DISCOUNT_BASES: &[&str] = &["customer_group", "item_category", "order_amount"];

/// Discount policies 折扣政策: a percentage or an amount per unit off the list price, for a
/// customer group, an item category or orders from an amount on.
pub const DISCOUNT_POLICY: EntityDef = EntityDef {
    kind: "discount_policy",
    table: "discount_policies",
    area: "sales",
    fields: &[
        code(),
        name_zh(),
        name_en(),
        FieldDef::new("basis", FieldKind::Choice(DISCOUNT_BASES)).required().listed(),
        FieldDef::new("customer_group", FieldKind::Ref("customer_group")).listed(),
        FieldDef::new("item_category", FieldKind::Ref("item_category")).listed(),
        FieldDef::new("min_amount", PRICE).listed(),
        FieldDef::new("currency", FieldKind::Ref("currency")),
        FieldDef::new("percent", PERCENT).listed(),
        FieldDef::new("amount", PRICE).listed(),
        FieldDef::new("valid_from", FieldKind::Date).listed(),
        FieldDef::new("valid_to", FieldKind::Date).listed(),
        active(),
    ],
    unique: &[],
    check: Some(check_discount_policy),
};

fn check_discount_policy(r: &Record) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let text = |name: &str| r.get(name).and_then(Value::as_text).is_some();
    let needed = match r.get("basis").and_then(Value::as_text) {
        Some("customer_group") => Some("customer_group"),
        Some("item_category") => Some("item_category"),
        Some("order_amount") => Some("min_amount"),
        _ => None,
    };
    if let Some(field) = needed
        && !text(field)
        && dec(r, field).is_none()
    {
        errors.push(FieldError::new(field, "discount_policy.basis_needs_field"));
    }
    let pct = dec(r, "percent");
    let amount = dec(r, "amount");
    if pct.is_some() == amount.is_some() {
        errors.push(FieldError::new("percent", "discount_policy.percent_or_amount"));
    }
    if pct.is_some_and(|p| p <= Decimal::ZERO || p > Decimal::ONE_HUNDRED) {
        errors
            .push(FieldError::new("percent", "field.out_of_range").with("min", 0).with("max", 100));
    }
    if amount.is_some_and(|a| a <= Decimal::ZERO) {
        errors.push(FieldError::new("amount", "field.not_positive"));
    }
    if (amount.is_some() || needed == Some("min_amount")) && !text("currency") {
        errors.push(FieldError::new("currency", "field.required"));
    }
    check_window(r, &mut errors);
    errors
}

/// Sales targets 销售目标: what a salesperson should invoice in a month, in the base currency.
/// A team's target is the sum over its members (their department).
pub const SALES_TARGET: EntityDef = EntityDef {
    kind: "sales_target",
    table: "sales_targets",
    area: "sales",
    fields: &[
        FieldDef::new("salesperson", FieldKind::Ref("employee")).required().listed(),
        FieldDef::new("year", FieldKind::Int { min: 2000, max: 2100 }).required().listed(),
        FieldDef::new("month", FieldKind::Int { min: 1, max: 12 }).required().listed(),
        FieldDef::new("amount", RATE).required().listed(),
    ],
    unique: &[&["salesperson", "year", "month"]],
    check: None,
};

/// Directions a stock reason applies to.
pub const REASON_DIRECTIONS: &[&str] = &["receipt", "issue", "both"];

/// Reason codes 收发类别 that miscellaneous receipts and issues must carry (sample, scrap,
/// found in count...), so no stock moves without a stated cause.
pub const STOCK_REASON: EntityDef = EntityDef {
    kind: "stock_reason",
    table: "stock_reasons",
    area: "inventory",
    fields: &[
        code(),
        name_zh(),
        name_en(),
        FieldDef::new("direction", FieldKind::Choice(REASON_DIRECTIONS)).required().listed(),
        active(),
    ],
    unique: &[],
    check: None,
};

/// Work centres 工作中心: where operations run, with their capacity (hours per shift-day times
/// shifts, at an efficiency) and the hourly rates standard cost charges for labour, machine
/// and overhead.
pub const WORK_CENTRE: EntityDef = EntityDef {
    kind: "work_centre",
    table: "work_centres",
    area: "engineering",
    fields: &[
        code(),
        name_zh(),
        name_en(),
        FieldDef::new("capacity_hours", POSITIVE_QTY).required().listed(),
        FieldDef::new("shifts", FieldKind::Int { min: 1, max: 4 }).default("1").listed(),
        FieldDef::new("efficiency_pct", FieldKind::Decimal { scale: 4, positive: true })
            .default("100")
            .listed(),
        FieldDef::new("labour_rate", MONEY).default("0").listed(),
        FieldDef::new("machine_rate", MONEY).default("0").listed(),
        FieldDef::new("overhead_rate", MONEY).default("0").listed(),
        active(),
    ],
    unique: &[],
    check: Some(check_work_centre),
};

fn check_work_centre(r: &Record) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if dec(r, "capacity_hours").is_some_and(|h| h > Decimal::from(24)) {
        errors.push(
            FieldError::new("capacity_hours", "field.out_of_range").with("min", 0).with("max", 24),
        );
    }
    if dec(r, "efficiency_pct").is_some_and(|p| p > Decimal::from(200)) {
        errors.push(
            FieldError::new("efficiency_pct", "field.out_of_range").with("min", 0).with("max", 200),
        );
    }
    errors
}

/// The work-centre calendar 工作日历: a day with other hours than usual (0 for a holiday or
/// a day off) for one work centre, or for every work centre when `work_centre` is empty.
pub const WORK_CENTRE_DAY: EntityDef = EntityDef {
    kind: "work_centre_day",
    table: "work_centre_days",
    area: "engineering",
    fields: &[
        FieldDef::new("work_centre", FieldKind::Ref("work_centre")).listed(),
        FieldDef::new("day", FieldKind::Date).required().listed(),
        FieldDef::new("hours", QTY).default("0").listed(),
        FieldDef::new("description", NAME).listed(),
    ],
    unique: &[&["work_centre", "day"]],
    check: Some(check_work_centre_day),
};

fn check_work_centre_day(r: &Record) -> Vec<FieldError> {
    if dec(r, "hours").is_some_and(|h| h > Decimal::from(24)) {
        vec![FieldError::new("hours", "field.out_of_range").with("min", 0).with("max", 24)]
    } else {
        Vec::new()
    }
}

/// Every master-data entity, in the order menus show them.
pub const ALL: &[&EntityDef] = &[
    &ITEM,
    &ITEM_CATEGORY,
    &UNIT,
    &UNIT_CONVERSION,
    &WAREHOUSE,
    &BIN,
    &STOCK_REASON,
    &CUSTOMER,
    &CUSTOMER_GROUP,
    &CUSTOMER_CONTACT,
    &CUSTOMER_ADDRESS,
    &SUPPLIER,
    &SUPPLIER_CONTACT,
    &CURRENCY,
    &EXCHANGE_RATE,
    &PAYMENT_TERM,
    &DEPARTMENT,
    &EMPLOYEE,
    &SALES_PRICE,
    &DISCOUNT_POLICY,
    &SALES_TARGET,
    &WORK_CENTRE,
    &WORK_CENTRE_DAY,
];

/// The entity called `kind`.
pub fn by_kind(kind: &str) -> Option<&'static EntityDef> {
    ALL.iter().copied().find(|d| d.kind == kind)
}

/// Where a reference to `kind` points: the table and its natural-key column. Users are not
/// master data but employees link to them by user name.
pub fn ref_target(kind: &str) -> Option<(&'static str, &'static str)> {
    if kind == "user" {
        return Some(("users", "username"));
    }
    by_kind(kind).map(|d| (d.table, "code"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_points_at_a_known_entity() {
        for def in ALL {
            for field in def.fields {
                if let FieldKind::Ref(target) = field.kind {
                    assert!(
                        ref_target(target).is_some(),
                        "{}.{} -> {target}",
                        def.kind,
                        field.name
                    );
                }
            }
            for set in def.unique {
                for name in *set {
                    assert!(def.field(name).is_some(), "{}: unique {name}", def.kind);
                }
            }
        }
    }
}

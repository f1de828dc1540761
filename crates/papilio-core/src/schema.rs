//! Declarative descriptions of master-data entities and the validation that follows from them.
//!
//! Each entity (item, customer, warehouse...) is an [`EntityDef`]: its table, its fields and
//! their rules. Storage builds its SQL from these static definitions, the web layer builds its
//! forms, lists, API schema and import columns from them, and [`validate`] turns raw text input
//! into typed [`Value`]s or a list of [`FieldError`]s naming every broken field.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::error::FieldError;
use crate::value::SCALE;

/// What kind of value a field holds, with the rules of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// An identifying code: letters, digits, `-`, `_`, `.`, at most `max` characters; stored
    /// upper-case so `pcs` and `PCS` cannot both exist.
    Code {
        /// Longest allowed code.
        max: usize,
    },
    /// Free text of at most `max` characters.
    Text {
        /// Longest allowed text.
        max: usize,
    },
    /// An exact decimal with at most `scale` places, not below `min` when set.
    Decimal {
        /// Most decimal places accepted.
        scale: u32,
        /// Whether zero and negative values are refused.
        positive: bool,
    },
    /// A whole number in an inclusive range.
    Int {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// Yes or no.
    Bool,
    /// A calendar date, ISO 8601.
    Date,
    /// One of a fixed list of codes.
    Choice(&'static [&'static str]),
    /// The code of a row of another entity.
    Ref(&'static str),
}

/// One field of an entity.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    /// Name in the API, forms, imports and the table column.
    pub name: &'static str,
    /// Value kind and its rules.
    pub kind: FieldKind,
    /// Whether an empty value is refused.
    pub required: bool,
    /// Value used when the input leaves the field out (as text, parsed like input).
    pub default: Option<&'static str>,
    /// Whether the list page shows it as a column.
    pub listed: bool,
}

impl FieldDef {
    /// A field with the given kind, optional, not listed.
    pub const fn new(name: &'static str, kind: FieldKind) -> Self {
        FieldDef { name, kind, required: false, default: None, listed: false }
    }

    /// Marks the field required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Shows the field as a list column.
    pub const fn listed(mut self) -> Self {
        self.listed = true;
        self
    }

    /// Sets the default used when input omits the field.
    pub const fn default(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self
    }
}

/// A cross-field rule: given the validated record, the errors it finds.
pub type RecordCheck = fn(&Record) -> Vec<FieldError>;

/// A master-data entity.
#[derive(Debug, Clone, Copy)]
pub struct EntityDef {
    /// Stable name in URLs, permissions and the message catalogue (`item`).
    pub kind: &'static str,
    /// Table name.
    pub table: &'static str,
    /// The entity's area on the home page (`inventory`, `sales`...).
    pub area: &'static str,
    /// Fields in form order. `code`, when present, is the natural key other entities refer to.
    pub fields: &'static [FieldDef],
    /// Field sets that must be unique together, besides `code`.
    pub unique: &'static [&'static [&'static str]],
    /// Rules across fields.
    pub check: Option<RecordCheck>,
}

impl EntityDef {
    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&'static FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Whether rows have a `code` natural key.
    pub fn has_code(&self) -> bool {
        self.field("code").is_some()
    }

    /// Whether rows have an `active` flag (deactivated rather than deleted).
    pub fn has_active(&self) -> bool {
        self.field("active").is_some()
    }

    /// Text fields a list search looks in.
    pub fn search_fields(&self) -> impl Iterator<Item = &'static FieldDef> {
        self.fields.iter().filter(|f| {
            matches!(f.kind, FieldKind::Code { .. } | FieldKind::Text { .. } | FieldKind::Ref(_))
        })
    }
}

/// A typed field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Empty.
    Null,
    /// Code, text, choice or reference.
    Text(String),
    /// A whole number.
    Int(i64),
    /// An exact decimal.
    Dec(Decimal),
    /// Yes or no.
    Bool(bool),
    /// A date.
    Date(NaiveDate),
}

impl Value {
    /// The value as input text, the inverse of parsing (`""` for null).
    pub fn to_input(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Text(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Dec(d) => d.normalize().to_string(),
            Value::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        }
    }

    /// The decimal inside, if any.
    pub fn as_dec(&self) -> Option<Decimal> {
        match self {
            Value::Dec(d) => Some(*d),
            _ => None,
        }
    }

    /// The text inside, if any.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// A validated row: field name to value, every field of the entity present.
pub type Record = BTreeMap<&'static str, Value>;

/// Raw input: field name to text, as a form, a JSON body or an import row delivers it.
pub type RawInput = BTreeMap<String, String>;

/// Parses and checks raw input against `def`.
///
/// Fields missing from `input` take their default (or stay empty) when `partial` is false; with
/// `partial` true (an update that sends only some fields), missing fields are left out of the
/// answer. Unknown field names are refused, so a typo never passes silently.
pub fn validate(
    def: &EntityDef,
    input: &RawInput,
    partial: bool,
) -> Result<Record, Vec<FieldError>> {
    let mut errors = Vec::new();
    for name in input.keys() {
        if def.field(name).is_none() {
            errors.push(FieldError::new(name.as_str(), "field.unknown"));
        }
    }

    let mut record = Record::new();
    for field in def.fields {
        let raw = match input.get(field.name) {
            Some(text) => text.trim(),
            None if partial => continue,
            None => field.default.unwrap_or(""),
        };
        match parse_field(field, raw) {
            Ok(value) => {
                record.insert(field.name, value);
            }
            Err(error) => errors.push(error),
        }
    }

    if errors.is_empty()
        && let Some(check) = def.check
    {
        errors.extend(check(&record));
    }
    if errors.is_empty() { Ok(record) } else { Err(errors) }
}

/// Parses one field's raw text.
pub fn parse_field(field: &FieldDef, raw: &str) -> Result<Value, FieldError> {
    let name = field.name;
    if raw.is_empty() {
        return match (field.required, field.kind) {
            (_, FieldKind::Bool) => Ok(Value::Bool(false)),
            (true, _) => Err(FieldError::new(name, "field.required")),
            (false, _) => Ok(Value::Null),
        };
    }
    match field.kind {
        FieldKind::Code { max } => parse_code(name, raw, max).map(Value::Text),
        // User names are lower-case; every other natural key is upper-case.
        FieldKind::Ref("user") => {
            parse_code(name, raw, 64).map(|c| Value::Text(c.to_ascii_lowercase()))
        }
        FieldKind::Ref(_) => parse_code(name, raw, 64).map(Value::Text),
        FieldKind::Text { max } => {
            if raw.chars().count() > max {
                Err(FieldError::new(name, "field.too_long").with("max", max))
            } else if raw.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                Err(FieldError::new(name, "field.control_character"))
            } else {
                Ok(Value::Text(raw.to_owned()))
            }
        }
        FieldKind::Decimal { scale, positive } => {
            let value: Decimal = raw
                .parse()
                .or_else(|_| Decimal::from_scientific(raw))
                .map_err(|_| FieldError::new(name, "field.not_decimal"))?;
            let value = value.normalize();
            if value.scale() > scale.min(SCALE) {
                Err(FieldError::new(name, "field.too_many_decimals").with("max", scale))
            } else if value.is_sign_negative() && !value.is_zero() {
                Err(FieldError::new(name, "field.negative"))
            } else if positive && value.is_zero() {
                Err(FieldError::new(name, "field.not_positive"))
            } else if crate::value::to_scaled(value).is_none() {
                Err(FieldError::new(name, "field.out_of_range"))
            } else {
                Ok(Value::Dec(value))
            }
        }
        FieldKind::Int { min, max } => {
            let value: i64 = raw.parse().map_err(|_| FieldError::new(name, "field.not_integer"))?;
            if value < min || value > max {
                Err(FieldError::new(name, "field.out_of_range").with("min", min).with("max", max))
            } else {
                Ok(Value::Int(value))
            }
        }
        FieldKind::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "y" | "是" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" | "n" | "否" => Ok(Value::Bool(false)),
            _ => Err(FieldError::new(name, "field.not_bool")),
        },
        FieldKind::Date => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map(Value::Date)
            .map_err(|_| FieldError::new(name, "field.not_date")),
        FieldKind::Choice(options) => {
            if options.contains(&raw) {
                Ok(Value::Text(raw.to_owned()))
            } else {
                Err(FieldError::new(name, "field.not_choice").with("options", options.join(", ")))
            }
        }
    }
}

fn parse_code(name: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    if raw.chars().count() > max {
        return Err(FieldError::new(name, "field.too_long").with("max", max));
    }
    let ok = raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if !ok {
        return Err(FieldError::new(name, "field.bad_code"));
    }
    Ok(raw.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities;
    use proptest::prelude::*;

    fn input(pairs: &[(&str, &str)]) -> RawInput {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn item_with_every_rule_broken_names_every_field() {
        let raw = input(&[
            ("code", "bad code!"),
            ("name_en", &"x".repeat(300)),
            ("lead_time_days", "-3"),
            ("safety_stock", "-1"),
            ("standard_cost", "1.1234567"),
            ("item_type", "magic"),
            ("colour", "red"),
        ]);
        let errors = validate(&entities::ITEM, &raw, false).unwrap_err();
        let got: Vec<(&str, &str)> =
            errors.iter().map(|e| (e.field.as_str(), e.rule.as_str())).collect();
        for want in [
            ("colour", "field.unknown"),
            ("code", "field.bad_code"),
            ("name_zh", "field.required"),
            ("name_en", "field.too_long"),
            ("item_type", "field.not_choice"),
            ("base_unit", "field.required"),
            ("lead_time_days", "field.out_of_range"),
            ("safety_stock", "field.negative"),
            ("standard_cost", "field.too_many_decimals"),
        ] {
            assert!(got.contains(&want), "missing {want:?} in {got:?}");
        }
    }

    #[test]
    fn codes_are_upper_cased_and_defaults_apply() {
        let raw = input(&[
            ("code", "fan-100"),
            ("name_zh", "落地扇"),
            ("name_en", "Floor fan"),
            ("base_unit", "pcs"),
            ("item_type", "manufactured"),
        ]);
        let record = validate(&entities::ITEM, &raw, false).unwrap();
        assert_eq!(record["code"], Value::Text("FAN-100".into()));
        assert_eq!(record["base_unit"], Value::Text("PCS".into()));
        assert_eq!(record["active"], Value::Bool(true));
        assert_eq!(record["lot_sizing"], Value::Text("lot_for_lot".into()));
    }

    #[test]
    fn partial_input_keeps_only_given_fields() {
        let record = validate(&entities::ITEM, &input(&[("name_en", "Fan")]), true).unwrap();
        assert_eq!(record.len(), 1);
    }

    proptest! {
        #[test]
        fn decimal_fields_never_accept_negative(v in -1_000_000i64..-1) {
            let field = FieldDef::new("q", FieldKind::Decimal { scale: 6, positive: false });
            prop_assert!(parse_field(&field, &v.to_string()).is_err());
        }

        #[test]
        fn parsed_input_round_trips(v in 0u32..1_000_000, places in 0u32..6) {
            let field = FieldDef::new("q", FieldKind::Decimal { scale: 6, positive: false });
            let d = Decimal::new(i64::from(v), places);
            let parsed = parse_field(&field, &d.to_string()).unwrap();
            prop_assert_eq!(parse_field(&field, &parsed.to_input()).unwrap(), parsed);
        }
    }
}

//! Company settings: name, base currency, fiscal calendar with monthly periods.

use chrono::{Datelike, Months, NaiveDate};
use papilio_core::DomainError;
use sqlx::Row;

use crate::audit;
use crate::db::{Conn, Db, new_id, now_text};
use crate::error::StoreError;

/// The company's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    /// Legal name.
    pub name: String,
    /// Base currency code.
    pub base_currency: String,
    /// First month of the fiscal year (1 = January).
    pub fiscal_year_start_month: u32,
    /// Moving-average values kept company-wide (`company`) or per warehouse (`warehouse`).
    pub valuation_scope: String,
    /// Optimistic-locking version.
    pub version: i64,
}

/// The valuation scopes a company can choose.
pub const VALUATION_SCOPES: &[&str] = &["company", "warehouse"];

/// One fiscal period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// Fiscal year (the calendar year it starts in).
    pub fiscal_year: i32,
    /// 1 to 12.
    pub period: u32,
    /// First day.
    pub start: NaiveDate,
    /// Last day.
    pub end: NaiveDate,
    /// Whether it is closed.
    pub closed: bool,
}

/// The twelve monthly periods of fiscal year `year` starting in `start_month`.
pub fn fiscal_year_periods(year: i32, start_month: u32) -> Vec<Period> {
    let Some(first) = NaiveDate::from_ymd_opt(year, start_month.clamp(1, 12), 1) else {
        return Vec::new();
    };
    (0..12u32)
        .filter_map(|i| {
            let start = first.checked_add_months(Months::new(i))?;
            let end = start.checked_add_months(Months::new(1))?.pred_opt()?;
            Some(Period { fiscal_year: year, period: i + 1, start, end, closed: false })
        })
        .collect()
}

/// On an empty database: the base currency, the piece unit, the company row and this fiscal
/// year's periods. Does nothing when the company exists.
pub async fn ensure_company(db: &Db, today: NaiveDate) -> Result<(), StoreError> {
    db.write(|conn, _| {
        Box::pin(async move {
            let exists = sqlx::query("SELECT id FROM company").fetch_optional(&mut *conn).await?;
            if exists.is_some() {
                return Ok(());
            }
            let now = now_text();
            for (code, zh, en, symbol) in [
                ("CNY", "人民币", "Chinese yuan", "¥"),
                ("USD", "美元", "US dollar", "$"),
                ("EUR", "欧元", "Euro", "€"),
            ] {
                sqlx::query(
                    "INSERT INTO currencies (id, code, name_zh, name_en, symbol, decimals, \
                     active, version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 2, 1, 1, $6, $6) ON CONFLICT (code) DO NOTHING",
                )
                .bind(new_id())
                .bind(code)
                .bind(zh)
                .bind(en)
                .bind(symbol)
                .bind(now.clone())
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query(
                "INSERT INTO units (id, code, name_zh, name_en, decimals, active, version, \
                 created_at, updated_at) \
                 VALUES ($1, 'PCS', '个', 'Piece', 0, 1, 1, $2, $2) ON CONFLICT (code) DO NOTHING",
            )
            .bind(new_id())
            .bind(now.clone())
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO company (id, name, base_currency, fiscal_year_start_month, version, \
                 updated_at) \
                 VALUES (1, 'Papilio', 'CNY', 1, 1, $1)",
            )
            .bind(now)
            .execute(&mut *conn)
            .await?;
            write_periods(conn, today.year(), 1).await
        })
    })
    .await
}

async fn write_periods(conn: &mut Conn, year: i32, start_month: u32) -> Result<(), StoreError> {
    for p in fiscal_year_periods(year, start_month) {
        sqlx::query(
            "INSERT INTO fiscal_periods (fiscal_year, period, start_date, end_date, closed) \
             VALUES ($1, $2, $3, $4, 0) \
             ON CONFLICT (fiscal_year, period) DO NOTHING",
        )
        .bind(i64::from(p.fiscal_year))
        .bind(i64::from(p.period))
        .bind(p.start.to_string())
        .bind(p.end.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The company's settings.
pub async fn company(db: &Db) -> Result<Company, StoreError> {
    let row = sqlx::query(
        "SELECT name, base_currency, fiscal_year_start_month, valuation_scope, version \
         FROM company WHERE id = 1",
    )
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| StoreError::not_found("company", 1))?;
    Ok(Company {
        name: row.try_get("name")?,
        base_currency: row.try_get("base_currency")?,
        fiscal_year_start_month: u32::try_from(row.try_get::<i64, _>("fiscal_year_start_month")?)
            .unwrap_or(1),
        valuation_scope: row.try_get("valuation_scope")?,
        version: row.try_get("version")?,
    })
}

/// Saves the settings if still at `version`, and opens the periods of the fiscal year that
/// contains `today` under the (possibly new) calendar. Closed periods are never rewritten.
pub async fn save_company(
    db: &Db,
    c: &Company,
    today: NaiveDate,
    by: i64,
) -> Result<(), StoreError> {
    let name = c.name.trim();
    if name.is_empty() {
        return Err(DomainError::field("name", "field.required").into());
    }
    if name.chars().count() > 120 {
        return Err(DomainError::Invalid(vec![
            papilio_core::FieldError::new("name", "field.too_long").with("max", 120),
        ])
        .into());
    }
    if !(1..=12).contains(&c.fiscal_year_start_month) {
        return Err(DomainError::field("fiscal_year_start_month", "field.out_of_range").into());
    }
    if !VALUATION_SCOPES.contains(&c.valuation_scope.as_str()) {
        return Err(DomainError::field("valuation_scope", "field.not_choice").into());
    }
    db.write(|conn, _| {
        Box::pin(async move {
            // Values are kept per scope: switching scope with stock on the books would need
            // every value split or merged, so it is only allowed before the first posting.
            let scope: String = sqlx::query("SELECT valuation_scope FROM company WHERE id = 1")
                .fetch_one(&mut *conn)
                .await?
                .try_get("valuation_scope")?;
            if scope != c.valuation_scope {
                let moved = sqlx::query("SELECT id FROM stock_moves LIMIT 1")
                    .fetch_optional(&mut *conn)
                    .await?;
                if moved.is_some() {
                    return Err(DomainError::field("valuation_scope", "stock.scope_locked").into());
                }
                sqlx::query("UPDATE company SET valuation_scope = $1 WHERE id = 1")
                    .bind(c.valuation_scope.clone())
                    .execute(&mut *conn)
                    .await?;
            }
            if !crate::master::reference_exists(conn, "currency", &c.base_currency).await? {
                return Err(DomainError::field("base_currency", "field.unknown_reference").into());
            }
            let before = sqlx::query(
                "SELECT name, base_currency, fiscal_year_start_month FROM company WHERE id = 1",
            )
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| -> Result<serde_json::Value, StoreError> {
                Ok(serde_json::json!({
                    "name": r.try_get::<String, _>("name")?,
                    "base_currency": r.try_get::<String, _>("base_currency")?,
                    "fiscal_year_start_month": r.try_get::<i64, _>("fiscal_year_start_month")?,
                }))
            })
            .transpose()?;
            let done = sqlx::query(
                "UPDATE company SET name = $1, base_currency = $2, fiscal_year_start_month = $3, \
                 version = version + 1, updated_at = $4 \
                 WHERE id = 1 AND version = $5",
            )
            .bind(name.to_owned())
            .bind(c.base_currency.clone())
            .bind(i64::from(c.fiscal_year_start_month))
            .bind(now_text())
            .bind(c.version)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Stale { entity: "company".into(), key: "1".into() });
            }
            let year = if today.month() >= c.fiscal_year_start_month {
                today.year()
            } else {
                today.year() - 1
            };
            sqlx::query("DELETE FROM fiscal_periods WHERE fiscal_year = $1 AND closed = 0")
                .bind(i64::from(year))
                .execute(&mut *conn)
                .await?;
            write_periods(conn, year, c.fiscal_year_start_month).await?;
            let after = serde_json::json!({
                "name": name,
                "base_currency": c.base_currency,
                "fiscal_year_start_month": c.fiscal_year_start_month,
            });
            audit::record(conn, "company", 1, "update", Some(by), before, Some(after)).await
        })
    })
    .await
}

/// Every fiscal period, latest year first.
pub async fn periods(db: &Db) -> Result<Vec<Period>, StoreError> {
    let rows = sqlx::query(
        "SELECT fiscal_year, period, start_date, end_date, closed FROM \
        fiscal_periods ORDER BY fiscal_year DESC, period",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let date = |col: &str| -> Result<NaiveDate, StoreError> {
                let text: String = r.try_get(col)?;
                text.parse().map_err(|_| StoreError::Corrupt(text))
            };
            Ok(Period {
                fiscal_year: i32::try_from(r.try_get::<i64, _>("fiscal_year")?).unwrap_or(0),
                period: u32::try_from(r.try_get::<i64, _>("period")?).unwrap_or(0),
                start: date("start_date")?,
                end: date("end_date")?,
                closed: r.try_get::<i64, _>("closed")? != 0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn april_fiscal_year_runs_to_march() {
        let p = fiscal_year_periods(2026, 4);
        assert_eq!(p.len(), 12);
        assert_eq!(p[0].start.to_string(), "2026-04-01");
        assert_eq!(p[0].end.to_string(), "2026-04-30");
        assert_eq!(p[10].end.to_string(), "2027-02-28");
        assert_eq!(p[11].end.to_string(), "2027-03-31");
    }
}

//! Users, roles and grants, sessions, API tokens and login throttling.
//!
//! Passwords are hashed with argon2id. Session and API tokens are random 256-bit values; only
//! their SHA-256 is stored, so a leaked database does not leak a usable token.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chrono::{Duration, Utc};
use papilio_core::DomainError;
use papilio_core::access::{self, Action, Grant};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::audit;
use crate::db::{Conn, Db, new_id, now_ms, now_text};
use crate::error::StoreError;

/// A user as the application sees it (never the hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Sign-in name.
    pub username: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// `zh-CN` or `en`.
    pub locale: String,
    /// Whether the user may sign in.
    pub active: bool,
    /// Role codes.
    pub roles: Vec<String>,
    /// Optimistic-locking version.
    pub version: i64,
}

/// The locales the UI speaks.
pub const LOCALES: &[&str] = &["zh-CN", "en"];

/// How long a session lasts without being renewed.
const SESSION_HOURS: i64 = 12;

fn hash_password(password: &str) -> Result<String, StoreError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Corrupt(format!("hashing failed: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// Checks a new password against the policy.
pub fn check_password_policy(password: &str) -> Result<(), DomainError> {
    if password.chars().count() < 8 {
        return Err(DomainError::field("password", "password.too_short"));
    }
    if password.chars().count() > 256 {
        return Err(DomainError::field("password", "field.too_long"));
    }
    Ok(())
}

/// A random token as 64 hex digits.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn check_username(username: &str) -> Result<(), DomainError> {
    let ok = !username.is_empty()
        && username.len() <= 64
        && username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err(DomainError::field("username", "user.bad_username")) }
}

/// Writes the built-in roles and their grants, replacing the grants of built-in roles so an
/// upgrade that changes them takes effect. Roles administrators made are left alone.
pub async fn seed_roles(db: &Db) -> Result<(), StoreError> {
    db.write(|conn, _| {
        Box::pin(async move {
            for role in access::BUILTIN_ROLES {
                sqlx::query(
                    "INSERT INTO roles (code, name_zh, name_en, builtin, created_at) \
                     VALUES ($1, $2, $3, 1, $4) ON CONFLICT (code) DO NOTHING",
                )
                .bind(role.code)
                .bind(role.code)
                .bind(role.code)
                .bind(now_text())
                .execute(&mut *conn)
                .await?;
                sqlx::query("DELETE FROM role_grants WHERE role_code = $1")
                    .bind(role.code)
                    .execute(&mut *conn)
                    .await?;
                for grant in access::builtin_grants(role) {
                    insert_grant(conn, role.code, &grant).await?;
                }
            }
            Ok(())
        })
    })
    .await
}

async fn insert_grant(conn: &mut Conn, role: &str, grant: &Grant) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO role_grants (role_code, resource, action) VALUES ($1, $2, $3)")
        .bind(role.to_owned())
        .bind(grant.resource.clone())
        .bind(grant.action.code())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A role with its grants.
#[derive(Debug, Clone)]
pub struct Role {
    /// Code.
    pub code: String,
    /// Whether it ships with Papilio.
    pub builtin: bool,
    /// What it allows.
    pub grants: Vec<Grant>,
}

/// Every role with its grants.
pub async fn roles(db: &Db) -> Result<Vec<Role>, StoreError> {
    let rows = sqlx::query("SELECT code, builtin FROM roles ORDER BY builtin DESC, code")
        .fetch_all(db.pool())
        .await?;
    let grant_rows = sqlx::query(
        "SELECT role_code, resource, action FROM role_grants ORDER BY resource, action",
    )
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let code: String = r.try_get("code")?;
        let mut grants = Vec::new();
        for g in &grant_rows {
            if g.try_get::<String, _>("role_code")? == code
                && let Some(action) = Action::from_code(&g.try_get::<String, _>("action")?)
            {
                grants.push(Grant { resource: g.try_get("resource")?, action });
            }
        }
        out.push(Role { code, builtin: r.try_get::<i64, _>("builtin")? != 0, grants });
    }
    Ok(out)
}

/// Creates or redefines a role of the administrator's own. Built-in roles cannot be redefined.
pub async fn save_role(db: &Db, code: &str, grants: &[Grant], by: i64) -> Result<(), StoreError> {
    let ok = !code.is_empty()
        && code.len() <= 32
        && code.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit());
    if !ok {
        return Err(DomainError::field("code", "role.bad_code").into());
    }
    if access::BUILTIN_ROLES.iter().any(|r| r.code == code) {
        return Err(DomainError::field("code", "role.builtin").into());
    }
    db.write(|conn, _| {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO roles (code, name_zh, name_en, builtin, created_at) VALUES ($1, $1, \
                 $1, 0, $2) \
                 ON CONFLICT (code) DO NOTHING",
            )
            .bind(code.to_owned())
            .bind(now_text())
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "DELETE FROM role_grants WHERE role_code = \
                $1",
            )
            .bind(code.to_owned())
            .execute(&mut *conn)
            .await?;
            for grant in grants {
                insert_grant(conn, code, grant).await?;
            }
            let after: Vec<String> =
                grants.iter().map(|g| format!("{}:{}", g.resource, g.action.code())).collect();
            audit::record(
                conn,
                "role",
                0,
                "save",
                Some(by),
                None,
                Some(serde_json::json!({"code": code, "grants": after})),
            )
            .await
        })
    })
    .await
}

/// The grants of all of a user's roles.
pub async fn grants_of(db: &Db, user_id: i64) -> Result<Vec<Grant>, StoreError> {
    let rows = sqlx::query(
        "SELECT DISTINCT g.resource, g.action FROM role_grants g \
         JOIN user_roles ur ON ur.role_code = g.role_code WHERE ur.user_id = $1",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    let mut grants = Vec::new();
    for r in rows {
        if let Some(action) = Action::from_code(&r.try_get::<String, _>("action")?) {
            grants.push(Grant { resource: r.try_get("resource")?, action });
        }
    }
    Ok(grants)
}

fn read_user(r: &sqlx::any::AnyRow, roles: Vec<String>) -> Result<User, StoreError> {
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        locale: r.try_get("locale")?,
        active: r.try_get::<i64, _>("active")? != 0,
        roles,
        version: r.try_get("version")?,
    })
}

async fn roles_of(db: &Db, user_id: i64) -> Result<Vec<String>, StoreError> {
    let rows =
        sqlx::query("SELECT role_code FROM user_roles WHERE user_id = $1 ORDER BY role_code")
            .bind(user_id)
            .fetch_all(db.pool())
            .await?;
    rows.iter().map(|r| r.try_get("role_code").map_err(StoreError::from)).collect()
}

/// Creates a user with a password and roles.
pub async fn create_user(
    db: &Db,
    username: &str,
    display_name: &str,
    password: &str,
    locale: &str,
    roles: &[String],
    by: Option<i64>,
) -> Result<User, StoreError> {
    check_username(username)?;
    check_display_name(display_name)?;
    check_password_policy(password)?;
    if !LOCALES.contains(&locale) {
        return Err(DomainError::field("locale", "field.not_choice").into());
    }
    let hash = hash_password(password)?;
    let id = new_id();
    db.write(|conn, _| {
        let hash = hash.clone();
        Box::pin(async move {
            let taken = sqlx::query("SELECT id FROM users WHERE username = $1")
                .bind(username.to_owned())
                .fetch_optional(&mut *conn)
                .await?;
            if taken.is_some() {
                return Err(StoreError::Duplicate {
                    entity: "user".into(),
                    fields: vec!["username".into()],
                });
            }
            let now = now_text();
            sqlx::query(
                "INSERT INTO users (id, username, display_name, password_hash, locale, active, \
                 version, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 1, 1, $6, $6)",
            )
            .bind(id)
            .bind(username.to_owned())
            .bind(display_name.to_owned())
            .bind(hash)
            .bind(locale.to_owned())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            set_roles_in(conn, id, roles).await?;
            audit::record(
                conn,
                "user",
                id,
                "create",
                by,
                None,
                Some(serde_json::json!({"username": username, "roles": roles})),
            )
            .await
        })
    })
    .await?;
    user_by_id(db, id).await
}

async fn set_roles_in(conn: &mut Conn, user_id: i64, roles: &[String]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let mut unique: Vec<&String> = roles.iter().collect();
    unique.sort();
    unique.dedup();
    for role in unique {
        let exists = sqlx::query("SELECT code FROM roles WHERE code = $1")
            .bind(role.clone())
            .fetch_optional(&mut *conn)
            .await?;
        if exists.is_none() {
            return Err(DomainError::Invalid(vec![
                papilio_core::FieldError::new("roles", "user.unknown_role").with("value", role),
            ])
            .into());
        }
        sqlx::query("INSERT INTO user_roles (user_id, role_code) VALUES ($1, $2)")
            .bind(user_id)
            .bind(role.clone())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Changes a user's name, locale, active flag and roles, if still at `version`.
#[allow(clippy::too_many_arguments)]
pub async fn update_user(
    db: &Db,
    id: i64,
    version: i64,
    display_name: &str,
    locale: &str,
    active: bool,
    roles: &[String],
    by: i64,
) -> Result<User, StoreError> {
    if !LOCALES.contains(&locale) {
        return Err(DomainError::field("locale", "field.not_choice").into());
    }
    check_display_name(display_name)?;
    db.write(|conn, _| {
        Box::pin(async move {
            let before = user_snapshot(conn, id).await?;
            let done = sqlx::query(
                "UPDATE users SET display_name = $1, locale = $2, active = $3, version = version \
                 + 1, updated_at = $4 \
                 WHERE id = $5 AND version = $6",
            )
            .bind(display_name.to_owned())
            .bind(locale.to_owned())
            .bind(i64::from(active))
            .bind(now_text())
            .bind(id)
            .bind(version)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Stale { entity: "user".into(), key: id.to_string() });
            }
            set_roles_in(conn, id, roles).await?;
            if !active {
                sqlx::query(
                    "DELETE FROM sessions WHERE user_id = \
                    $1",
                )
                .bind(id)
                .execute(&mut *conn)
                .await?;
            }
            let after = user_snapshot(conn, id).await?;
            audit::record(conn, "user", id, "update", Some(by), Some(before), Some(after)).await
        })
    })
    .await?;
    user_by_id(db, id).await
}

/// A user's changeable values as JSON, for the audit trail, read inside the transaction.
async fn user_snapshot(conn: &mut Conn, id: i64) -> Result<serde_json::Value, StoreError> {
    let row = sqlx::query("SELECT display_name, locale, active FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("user", id))?;
    let roles =
        sqlx::query("SELECT role_code FROM user_roles WHERE user_id = $1 ORDER BY role_code")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("role_code"))
            .collect::<Result<Vec<_>, _>>()?;
    Ok(serde_json::json!({
        "display_name": row.try_get::<String, _>("display_name")?,
        "locale": row.try_get::<String, _>("locale")?,
        "active": row.try_get::<i64, _>("active")? != 0,
        "roles": roles.join(", "),
    }))
}

/// Sets a user's own locale (the language switch).
pub async fn set_locale(db: &Db, id: i64, locale: &str) -> Result<(), StoreError> {
    if !LOCALES.contains(&locale) {
        return Err(DomainError::field("locale", "field.not_choice").into());
    }
    sqlx::query("UPDATE users SET locale = $1 WHERE id = $2")
        .bind(locale.to_owned())
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Sets a new password and ends the user's sessions.
pub async fn set_password(
    db: &Db,
    username: &str,
    password: &str,
    by: Option<i64>,
) -> Result<(), StoreError> {
    check_password_policy(password)?;
    let hash = hash_password(password)?;
    db.write(|conn, _| {
        let hash = hash.clone();
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT id FROM users WHERE username = \
                $1",
            )
            .bind(username.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
            let id: i64 =
                row.ok_or_else(|| StoreError::not_found("user", username))?.try_get("id")?;
            sqlx::query(
                "UPDATE users SET password_hash = $1, version = version + 1, updated_at \
                = $2 WHERE id = $3",
            )
            .bind(hash)
            .bind(now_text())
            .bind(id)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "DELETE FROM sessions WHERE user_id = \
                $1",
            )
            .bind(id)
            .execute(&mut *conn)
            .await?;
            audit::record(conn, "user", id, "password", by, None, None).await
        })
    })
    .await
}

const USER_COLUMNS: &str = "id, username, display_name, locale, active, version";

/// A user by id.
pub async fn user_by_id(db: &Db, id: i64) -> Result<User, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db.pool()).await?;
    let row = row.ok_or_else(|| StoreError::not_found("user", id))?;
    read_user(&row, roles_of(db, id).await?)
}

/// Every user, by user name.
pub async fn list_users(db: &Db) -> Result<Vec<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(db.pool()).await?;
    let all_roles = sqlx::query("SELECT user_id, role_code FROM user_roles ORDER BY role_code")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get("id")?;
            let roles = all_roles
                .iter()
                .filter(|x| x.try_get::<i64, _>("user_id").ok() == Some(id))
                .map(|x| x.try_get("role_code"))
                .collect::<Result<Vec<String>, _>>()?;
            read_user(r, roles)
        })
        .collect()
}

/// How many users exist (zero on a fresh database).
pub async fn count_users(db: &Db) -> Result<i64, StoreError> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(db.pool()).await?.try_get("n")?)
}

/// Why a sign-in was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Wrong name or password (never says which).
    BadCredentials,
    /// Too many failures for this account or address lately.
    Throttled,
}

/// Failures within this window count towards throttling.
const THROTTLE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failures per account in the window before sign-in is refused.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
/// Failures per address in the window before sign-in is refused.
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;

/// Checks a password, with throttling per account and per address. On success returns the
/// user; every attempt is recorded.
pub async fn authenticate(
    db: &Db,
    username: &str,
    password: &str,
    address: &str,
) -> Result<Result<User, LoginRefusal>, StoreError> {
    let since = now_ms() - THROTTLE_WINDOW_MS;
    let by_account: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM login_attempts WHERE username = \
        $1 AND at_ms > $2 AND success = 0",
    )
    .bind(username.to_owned())
    .bind(since)
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    let by_address: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM login_attempts WHERE address = \
        $1 AND at_ms > $2 AND success = 0",
    )
    .bind(address.to_owned())
    .bind(since)
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    if by_account >= MAX_FAILURES_PER_ACCOUNT || by_address >= MAX_FAILURES_PER_ADDRESS {
        return Ok(Err(LoginRefusal::Throttled));
    }

    let row = sqlx::query("SELECT id, password_hash, active FROM users WHERE username = $1")
        .bind(username.to_owned())
        .fetch_optional(db.pool())
        .await?;
    let found = match &row {
        Some(r) => {
            let hash: String = r.try_get("password_hash")?;
            let active = r.try_get::<i64, _>("active")? != 0;
            (verify_password(password, &hash) && active)
                .then(|| r.try_get::<i64, _>("id"))
                .transpose()?
        }
        None => {
            // Spend the same time as a real check so timing does not reveal user names.
            let _ = verify_password(
                password,
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$000000000000000000000000\
                 0000000000000000000",
            );
            None
        }
    };
    sqlx::query(
        "INSERT INTO login_attempts (id, username, address, at_ms, success) VALUES ($1, \
        $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(username.to_owned())
    .bind(address.to_owned())
    .bind(now_ms())
    .bind(i64::from(found.is_some()))
    .execute(db.pool())
    .await?;
    match found {
        Some(id) => Ok(Ok(user_by_id(db, id).await?)),
        None => Ok(Err(LoginRefusal::BadCredentials)),
    }
}

/// A signed-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The secret the cookie carries (only its hash is stored).
    pub token: String,
    /// The form token that state-changing requests must echo.
    pub csrf_token: String,
    /// Who.
    pub user_id: i64,
}

/// Starts a session for `user_id`.
pub async fn create_session(db: &Db, user_id: i64) -> Result<Session, StoreError> {
    let token = random_token();
    let csrf_token = random_token();
    let expires = (Utc::now() + Duration::hours(SESSION_HOURS))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
        VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(csrf_token.clone())
    .bind(now_text())
    .bind(expires)
    .execute(db.pool())
    .await?;
    Ok(Session { token, csrf_token, user_id })
}

/// The live session behind a cookie token, if any.
pub async fn session(db: &Db, token: &str) -> Result<Option<Session>, StoreError> {
    let row = sqlx::query(
        "SELECT s.user_id, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = 1",
    )
    .bind(token_hash(token))
    .bind(now_text())
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(Session {
            token: token.to_owned(),
            csrf_token: r.try_get("csrf_token")?,
            user_id: r.try_get("user_id")?,
        })
    })
    .transpose()
}

/// Ends a session.
pub async fn delete_session(db: &Db, token: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(db.pool())
        .await?;
    Ok(())
}

/// An API token's public part.
#[derive(Debug, Clone)]
pub struct ApiToken {
    /// Id.
    pub id: i64,
    /// What the owner called it.
    pub name: String,
    /// Created when.
    pub created_at: String,
    /// Last used when.
    pub last_used_at: Option<String>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// Issues an API token; the secret is returned once and never again.
pub async fn create_api_token(db: &Db, user_id: i64, name: &str) -> Result<String, StoreError> {
    Ok(issue_api_token(db, user_id, name).await?.1)
}

/// The user an API token belongs to, if it is valid.
pub async fn user_for_api_token(db: &Db, secret: &str) -> Result<Option<i64>, StoreError> {
    let hash = token_hash(secret);
    let row = sqlx::query(
        "SELECT t.user_id FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked = 0 AND u.active = 1",
    )
    .bind(hash.clone())
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    // Note the use at most once a minute per token: a write on every request would turn each
    // read into a durable commit.
    let now = Utc::now();
    let stale = (now - Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = $1 \
         WHERE token_hash = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    .bind(hash)
    .bind(stale)
    .execute(db.pool())
    .await?;
    Ok(Some(row.try_get("user_id")?))
}

/// A user's tokens.
pub async fn api_tokens(db: &Db, user_id: i64) -> Result<Vec<ApiToken>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, name, created_at, last_used_at, revoked FROM api_tokens \
        WHERE user_id = $1 ORDER BY created_at DESC",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ApiToken {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
                last_used_at: r.try_get("last_used_at")?,
                revoked: r.try_get::<i64, _>("revoked")? != 0,
            })
        })
        .collect()
}

/// Revokes one of a user's tokens.
pub async fn revoke_api_token(db: &Db, user_id: i64, token_id: i64) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE api_tokens SET revoked = 1 WHERE id = $1 AND user_id = $2")
        .bind(token_id)
        .bind(user_id)
        .execute(db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("api_token", token_id));
    }
    Ok(())
}

/// Issues an API token and returns its id with the secret, which is shown once and never
/// again.
pub async fn issue_api_token(
    db: &Db,
    user_id: i64,
    name: &str,
) -> Result<(i64, String), StoreError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(DomainError::field("name", "field.required").into());
    }
    if name.chars().count() > 64 {
        return Err(DomainError::Invalid(vec![
            papilio_core::FieldError::new("name", "field.too_long").with("max", 64),
        ])
        .into());
    }
    let id = new_id();
    let secret = format!("pap_{}", random_token());
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, revoked) \
         VALUES ($1, $2, $3, $4, $5, 0)",
    )
    .bind(id)
    .bind(user_id)
    .bind(name.to_owned())
    .bind(token_hash(&secret))
    .bind(now_text())
    .execute(db.pool())
    .await?;
    Ok((id, secret))
}

/// Whether `password` is user `id`'s current password.
pub async fn password_matches(db: &Db, id: i64, password: &str) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    let row = row.ok_or_else(|| StoreError::not_found("user", id))?;
    Ok(verify_password(password, &row.try_get::<String, _>("password_hash")?))
}

/// Changes the signed-in user's own password after checking the current one. Every other
/// session of theirs ends; the one named by `keep_session` (the caller's) stays signed in.
pub async fn change_own_password(
    db: &Db,
    id: i64,
    current: &str,
    new: &str,
    keep_session: Option<&str>,
) -> Result<(), StoreError> {
    check_password_policy(new).map_err(|e| rename_field(e, "password", "new"))?;
    if !password_matches(db, id, current).await? {
        return Err(DomainError::field("current", "password.wrong").into());
    }
    let hash = hash_password(new)?;
    let keep = keep_session.map(token_hash).unwrap_or_default();
    db.write(|conn, _| {
        let (hash, keep) = (hash.clone(), keep.clone());
        Box::pin(async move {
            sqlx::query(
                "UPDATE users SET password_hash = $1, version = version + 1, updated_at = $2 \
                 WHERE id = $3",
            )
            .bind(hash)
            .bind(now_text())
            .bind(id)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                .bind(id)
                .bind(keep)
                .execute(&mut *conn)
                .await?;
            audit::record(conn, "user", id, "password", Some(id), None, None).await
        })
    })
    .await
}

/// Renames the field of every field error in `e` called `from` to `to`.
fn rename_field(e: DomainError, from: &str, to: &str) -> DomainError {
    match e {
        DomainError::Invalid(fields) => DomainError::Invalid(
            fields
                .into_iter()
                .map(|mut f| {
                    if f.field == from {
                        to.clone_into(&mut f.field);
                    }
                    f
                })
                .collect(),
        ),
        other => other,
    }
}

/// Sets user `id`'s password (an administrator's reset) and ends all of their sessions.
pub async fn reset_password(db: &Db, id: i64, password: &str, by: i64) -> Result<(), StoreError> {
    let user = user_by_id(db, id).await?;
    set_password(db, &user.username, password, Some(by)).await
}

/// Changes the signed-in user's own display name and language.
pub async fn update_profile(
    db: &Db,
    id: i64,
    display_name: &str,
    locale: &str,
) -> Result<User, StoreError> {
    let display_name = display_name.trim();
    check_display_name(display_name)?;
    if !LOCALES.contains(&locale) {
        return Err(DomainError::field("locale", "field.not_choice").into());
    }
    db.write(|conn, _| {
        Box::pin(async move {
            let before = sqlx::query("SELECT display_name, locale FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| StoreError::not_found("user", id))?;
            let before = serde_json::json!({
                "display_name": before.try_get::<String, _>("display_name")?,
                "locale": before.try_get::<String, _>("locale")?,
            });
            sqlx::query(
                "UPDATE users SET display_name = $1, locale = $2, version = version + 1, \
                 updated_at = $3 WHERE id = $4",
            )
            .bind(display_name.to_owned())
            .bind(locale.to_owned())
            .bind(now_text())
            .bind(id)
            .execute(&mut *conn)
            .await?;
            let after = serde_json::json!({"display_name": display_name, "locale": locale});
            audit::record(conn, "user", id, "update", Some(id), Some(before), Some(after)).await
        })
    })
    .await?;
    user_by_id(db, id).await
}

/// Refuses an empty or overlong display name.
fn check_display_name(display_name: &str) -> Result<(), DomainError> {
    if display_name.trim().is_empty() {
        return Err(DomainError::field("display_name", "field.required"));
    }
    if display_name.chars().count() > 120 {
        return Err(DomainError::Invalid(vec![
            papilio_core::FieldError::new("display_name", "field.too_long").with("max", 120),
        ]));
    }
    Ok(())
}

/// Whether a role called `code` exists.
pub async fn role_exists(db: &Db, code: &str) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT code FROM roles WHERE code = $1")
        .bind(code.to_owned())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

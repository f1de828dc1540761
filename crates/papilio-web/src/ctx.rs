//! The request context: who is asking, in which language, and whether the CSRF check passed.
//!
//! [`context`] runs before every handler. It resolves the session cookie or the `Bearer` API
//! token, refuses state-changing requests from a browser session that do not echo the
//! session's CSRF token, and runs the handler inside a task-local [`RequestCtx`] so that
//! errors anywhere render in the caller's language and format.

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Request, header};
use axum::middleware::Next;
use axum::response::Response;
use papilio_core::access::{self, Action, Grant};
use papilio_store::users::{self, User};

use crate::AppState;
use crate::error::AppError;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "papilio_session";
/// Name of the cookie that remembers an anonymous visitor's language.
pub const LANG_COOKIE: &str = "papilio_lang";
/// Header carrying the CSRF token on scripted requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";

/// What the current request is, for rendering.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    /// `zh-CN` or `en`.
    pub locale: String,
    /// Whether it is an API call (JSON errors) rather than a page (HTML errors).
    pub api: bool,
}

tokio::task_local! {
    static REQUEST: RequestCtx;
}

/// The current request's context (defaults outside a request, e.g. in the CLI).
pub fn current() -> RequestCtx {
    REQUEST.try_with(Clone::clone).unwrap_or(RequestCtx { locale: "en".into(), api: true })
}

/// The signed-in user with what their roles allow.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The user.
    pub user: User,
    /// Grants of all their roles.
    pub grants: Vec<Grant>,
    /// The session's CSRF token (absent for API tokens).
    pub csrf: Option<String>,
}

impl CurrentUser {
    /// Whether the user may do `action` on `resource` in `area`.
    pub fn can(&self, resource: &str, area: &str, action: Action) -> bool {
        access::allowed(&self.grants, resource, area, action)
    }

    /// Refuses with 403 unless the user may.
    pub fn require(&self, resource: &str, area: &str, action: Action) -> Result<(), AppError> {
        if self.can(resource, area, action) {
            Ok(())
        } else {
            Err(AppError::Forbidden { resource: resource.to_owned(), action: action.code() })
        }
    }

    /// The CSRF token for forms (empty for token users, who do not use forms).
    pub fn csrf_token(&self) -> &str {
        self.csrf.as_deref().unwrap_or("")
    }

    /// The storage actor.
    pub fn actor(&self) -> papilio_store::documents::Actor {
        papilio_store::documents::Actor { user_id: self.user.id, roles: self.user.roles.clone() }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<CurrentUser>().cloned().ok_or(AppError::Unauthenticated)
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<CurrentUser>().cloned())
    }
}

/// A cookie's value from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| cookie::Cookie::parse(c.trim().to_owned()).ok())
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The language for a visitor who is not signed in: the language cookie, then the browser's
/// preference, then Chinese.
pub fn anonymous_locale(headers: &HeaderMap) -> String {
    if let Some(lang) =
        cookie(headers, LANG_COOKIE).filter(|l| users::LOCALES.contains(&l.as_str()))
    {
        return lang;
    }
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let first = accept.split(',').next().unwrap_or("").trim().to_ascii_lowercase();
    if first.starts_with("en") { "en".into() } else { "zh-CN".into() }
}

async fn resolve_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<CurrentUser>, AppError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let (user_id, csrf) = if let Some(token) = bearer {
        match users::user_for_api_token(&state.db, token).await? {
            Some(id) => (id, None),
            None => return Err(AppError::Unauthenticated),
        }
    } else if let Some(token) = cookie(headers, SESSION_COOKIE) {
        match users::session(&state.db, &token).await? {
            Some(s) => (s.user_id, Some(s.csrf_token)),
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    let user = users::user_by_id(&state.db, user_id).await?;
    let grants = users::grants_of(&state.db, user_id).await?;
    Ok(Some(CurrentUser { user, grants, csrf }))
}

fn unsafe_method(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Largest form body the CSRF check reads to find the token.
const FORM_LIMIT: usize = 2 * 1024 * 1024;

/// Resolves user and locale, checks CSRF, then runs the handler inside the request context.
pub async fn context(
    State(state): State<AppState>,
    mut req: Request<Body>,
    next: Next,
) -> Response {
    req.extensions_mut().insert(state.clone());
    // Static files need no user: spare them the session lookup.
    if req.uri().path().starts_with("/assets/") {
        return next.run(req).await;
    }
    let api = req.uri().path().starts_with("/api/");
    let headers = req.headers().clone();
    let user = resolve_user(&state, &headers).await;
    let locale = match &user {
        Ok(Some(u)) => u.user.locale.clone(),
        _ => anonymous_locale(&headers),
    };
    let ctx = RequestCtx { locale, api };
    REQUEST.scope(ctx, guarded(user, req, next)).await
}

async fn guarded(
    user: Result<Option<CurrentUser>, AppError>,
    mut req: Request<Body>,
    next: Next,
) -> Response {
    use axum::response::IntoResponse;
    let user = match user {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    if let Some(user) = user {
        if let (Some(expected), true) = (user.csrf.clone(), unsafe_method(req.method())) {
            match check_csrf(req, &expected).await {
                Ok(rebuilt) => req = rebuilt,
                Err(e) => return e.into_response(),
            }
        }
        req.extensions_mut().insert(user);
    }
    next.run(req).await
}

/// Passes the request on if it carries `expected` in the CSRF header, the `_csrf` query
/// parameter, or the `_csrf` field of a URL-encoded form (whose body is then put back).
async fn check_csrf(req: Request<Body>, expected: &str) -> Result<Request<Body>, AppError> {
    let header_token =
        req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let query_token = req.uri().query().and_then(|q| form_value(q.as_bytes(), CSRF_FIELD));
    if header_token.as_deref() == Some(expected) || query_token.as_deref() == Some(expected) {
        return Ok(req);
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(AppError::CsrfFailed);
    }
    let (parts, body) = req.into_parts();
    let bytes =
        axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| AppError::PayloadTooLarge)?;
    if form_value(&bytes, CSRF_FIELD).as_deref() != Some(expected) {
        return Err(AppError::CsrfFailed);
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn form_value(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// A client's address for login throttling: the first `X-Forwarded-For` hop when the server
/// is told to trust its proxy, else the socket peer.
pub fn client_address(
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    trust_proxy: bool,
) -> String {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|s| s.trim().to_owned())
        .filter(|_| trust_proxy);
    forwarded.or_else(|| peer.map(|p| p.ip().to_string())).unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_address_is_used_only_behind_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        let peer = Some("127.0.0.1:5000".parse().unwrap());
        assert_eq!(client_address(&headers, peer, false), "127.0.0.1");
        assert_eq!(client_address(&headers, peer, true), "203.0.113.7");
        assert_eq!(client_address(&HeaderMap::new(), None, true), "unknown");
    }
}

//! Server-rendered pages: sign-in, home, language switch, and each area's pages.

pub mod admin;
pub mod counts;
pub mod documents;
pub mod engineering;
pub mod master;
pub mod sales;
pub mod sales_reports;
pub mod stock;
pub mod stock_analysis;
pub mod transfer;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::AppState;
use crate::ctx::{self, CurrentUser};
use crate::error::AppError;
use crate::i18n;
use crate::views::{Chrome, HomePage, LoginPage};
use papilio_store::users::{self, LoginRefusal};

/// Every page route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/locale", post(switch_locale))
        .merge(master::routes())
        .merge(documents::routes())
        .merge(admin::routes())
        .merge(transfer::routes())
        .merge(stock::routes())
        .merge(stock_analysis::routes())
        .merge(counts::routes())
        .merge(sales::routes())
        .merge(engineering::routes())
        .merge(sales_reports::routes())
}

/// The chrome for `user`, with the registered document types in the navigation.
pub fn chrome(state: &AppState, user: &CurrentUser, title: &str) -> Chrome {
    let types: Vec<(String, String)> =
        state.docs.iter().map(|t| (t.code.to_owned(), t.area.to_owned())).collect();
    Chrome::new(user, title, &types)
}

/// Renders a template as an HTML response.
pub fn render<T: Template>(page: &T) -> Result<Response, AppError> {
    Ok(Html(page.render()?).into_response())
}

async fn home(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    let locale = user.user.locale.clone();
    let c = chrome(&state, &user, &i18n::tr(&locale, "home.title"));
    let roles = user.user.roles.iter().map(|r| i18n::tr(&locale, &format!("role.{r}"))).collect();
    let stock_alerts = if user.can(stock::RESOURCE, stock::AREA, papilio_core::access::Action::Read)
    {
        Some(stock::alert_count(&state).await?)
    } else {
        None
    };
    render(&HomePage { c, roles, stock_alerts })
}

const LOGIN_CSRF_COOKIE: &str = "papilio_login_csrf";

fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> HeaderValue {
    let mut c = cookie::Cookie::build((name.to_owned(), value.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(secure);
    if let Some(age) = max_age {
        c = c.max_age(cookie::time::Duration::seconds(age));
    }
    HeaderValue::from_str(&c.build().to_string()).unwrap_or(HeaderValue::from_static(""))
}

fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    username: &str,
    error: Option<String>,
    status: u16,
) -> Result<Response, AppError> {
    let locale = ctx::anonymous_locale(headers);
    let token = users::random_token();
    let page = LoginPage {
        c: Chrome::anonymous(&locale, &i18n::tr(&locale, "login.title")),
        login_csrf: token.clone(),
        username: username.to_owned(),
        error,
    };
    let mut response = render(&page)?;
    *response.status_mut() =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF_COOKIE, &token, state.secure_cookies, Some(3600)),
    );
    Ok(response)
}

async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: Option<CurrentUser>,
) -> Result<Response, AppError> {
    if user.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    login_page(&state, &headers, "", None, 200)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(rename = "_login_csrf", default)]
    login_csrf: String,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let locale = ctx::anonymous_locale(&headers);
    let expected = ctx::cookie(&headers, LOGIN_CSRF_COOKIE);
    if expected.as_deref() != Some(form.login_csrf.as_str()) || form.login_csrf.is_empty() {
        return login_page(
            &state,
            &headers,
            &form.username,
            Some(i18n::tr(&locale, "error.csrf_failed")),
            403,
        );
    }
    let address = ctx::client_address(&headers, Some(peer), state.trust_proxy);
    match users::authenticate(&state.db, form.username.trim(), &form.password, &address).await? {
        Ok(user) => {
            let session = users::create_session(&state.db, user.id).await?;
            tracing::info!(user.name = %user.username, "signed in");
            let mut response = Redirect::to("/").into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(ctx::SESSION_COOKIE, &session.token, state.secure_cookies, None),
            );
            Ok(response)
        }
        Err(refusal) => {
            let (key, status) = match refusal {
                LoginRefusal::BadCredentials => ("error.bad_credentials", 401),
                LoginRefusal::Throttled => ("error.login_throttled", 429),
            };
            login_page(&state, &headers, &form.username, Some(i18n::tr(&locale, key)), status)
        }
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    if let Some(token) = ctx::cookie(&headers, ctx::SESSION_COOKIE) {
        users::delete_session(&state.db, &token).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(ctx::SESSION_COOKIE, "", state.secure_cookies, Some(0)),
    );
    Ok(response)
}

#[derive(Deserialize)]
struct LocaleForm {
    locale: String,
}

async fn switch_locale(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: Option<CurrentUser>,
    Form(form): Form<LocaleForm>,
) -> Result<Response, AppError> {
    if !users::LOCALES.contains(&form.locale.as_str()) {
        return Err(AppError::Invalid(vec![papilio_core::FieldError::new(
            "locale",
            "field.not_choice",
        )]));
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            r.find("://").and_then(|i| r[i + 3..].find('/').map(|j| r[i + 3 + j..].to_owned()))
        })
        .unwrap_or_else(|| "/".to_owned());
    if let Some(user) = user {
        users::set_locale(&state.db, user.user.id, &form.locale).await?;
    }
    let mut response = Redirect::to(&back).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(ctx::LANG_COOKIE, &form.locale, state.secure_cookies, Some(365 * 24 * 3600)),
    );
    Ok(response)
}

//! Page models: the data each askama template renders, and the chrome every page shares.

use askama::Template;
use papilio_core::access::{self, Action};
use papilio_core::entities;

use crate::ctx::CurrentUser;
use crate::i18n;

/// One link of the navigation.
#[derive(Debug, Clone)]
pub struct NavLink {
    /// Shown text.
    pub label: String,
    /// Target.
    pub href: String,
}

/// One area of the navigation with its links.
#[derive(Debug, Clone)]
pub struct NavArea {
    /// Area code.
    pub code: String,
    /// Shown name.
    pub label: String,
    /// Its pages.
    pub links: Vec<NavLink>,
}

/// What every signed-in page shows around its content: language, user, navigation, CSRF.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// `zh-CN` or `en`.
    pub locale: String,
    /// Page title.
    pub title: String,
    /// Signed-in user's display name (empty on the login page).
    pub user_name: String,
    /// CSRF token for forms.
    pub csrf: String,
    /// Areas the user may enter.
    pub areas: Vec<NavArea>,
    /// Number of documents waiting for this user's approval.
    pub inbox_count: usize,
}

impl Chrome {
    /// Chrome for a signed-in user.
    pub fn new(user: &CurrentUser, title: &str, doc_types: &[(String, String)]) -> Chrome {
        let locale = user.user.locale.clone();
        let areas = access::AREAS
            .iter()
            .filter(|a| access::may_enter(&user.grants, a))
            .map(|area| NavArea {
                code: (*area).to_owned(),
                label: i18n::tr(&locale, &format!("area.{area}")),
                links: area_links(user, &locale, area, doc_types),
            })
            // An area with nothing built yet (or nothing this user may open) is not shown.
            .filter(|area| !area.links.is_empty())
            .collect();
        Chrome {
            title: title.to_owned(),
            user_name: user.user.display_name.clone(),
            csrf: user.csrf_token().to_owned(),
            areas,
            inbox_count: 0,
            locale,
        }
    }

    /// Chrome for a visitor who is not signed in.
    pub fn anonymous(locale: &str, title: &str) -> Chrome {
        Chrome {
            locale: locale.to_owned(),
            title: title.to_owned(),
            user_name: String::new(),
            csrf: String::new(),
            areas: Vec::new(),
            inbox_count: 0,
        }
    }

    /// Translates `key`.
    pub fn t(&self, key: &str) -> String {
        i18n::tr(&self.locale, key)
    }

    /// The other language's code, for the switch.
    pub fn other_locale(&self) -> &'static str {
        if self.locale == "en" { "zh-CN" } else { "en" }
    }

    /// The `lang` attribute.
    pub fn html_lang(&self) -> &str {
        &self.locale
    }
}

fn area_links(
    user: &CurrentUser,
    locale: &str,
    area: &str,
    doc_types: &[(String, String)],
) -> Vec<NavLink> {
    let mut links: Vec<NavLink> = doc_types
        .iter()
        .filter(|(code, a)| a == area && user.can(code, area, Action::Read))
        .map(|(code, _)| NavLink {
            label: i18n::entity_label(locale, code),
            href: format!("/d/{code}"),
        })
        .collect();
    links.extend(
        entities::ALL
            .iter()
            .filter(|d| d.area == area && user.can(d.kind, area, Action::Read))
            .map(|d| NavLink {
                label: i18n::entity_label(locale, d.kind),
                href: format!("/m/{}", d.kind),
            }),
    );
    if area == "inventory" && user.can("stock", "inventory", Action::Read) {
        links.push(NavLink {
            label: i18n::tr(locale, "analysis.title"),
            href: "/stock/analysis".to_owned(),
        });
    }
    if area == "inventory" && user.can("stock", area, Action::Read) {
        for (key, href) in [
            ("stock.on_hand_title", "/stock"),
            ("stock.card_title", "/stock/card"),
            ("stock.alerts_title", "/stock/alerts"),
        ] {
            links.push(NavLink { label: i18n::tr(locale, key), href: href.to_owned() });
        }
        if user.can("stock", area, Action::Approve) {
            links.push(NavLink {
                label: i18n::tr(locale, "stock.check_title"),
                href: "/stock/check".to_owned(),
            });
        }
    }
    if area == "inventory" && user.can("stock_count", area, Action::Read) {
        links.push(NavLink {
            label: i18n::tr(locale, "count.title"),
            href: "/stock/counts".to_owned(),
        });
    }
    if area == "sales" {
        for (resource, key, href) in [
            ("sales_price", "sales.nav.price", "/sales/price"),
            ("sales_report", "sales.nav.execution", "/sales/execution"),
            ("sales_report", "sales.nav.receivables", "/sales/receivables"),
            ("sales_report", "sales.nav.credit", "/sales/credit"),
            ("sales_report", "sales.nav.margin", "/sales/margin"),
            ("sales_report", "sales.nav.targets", "/sales/targets"),
            ("sales_settings", "sales.nav.settings", "/sales/settings"),
        ] {
            if user.can(resource, area, Action::Read) {
                links.push(NavLink { label: i18n::tr(locale, key), href: href.to_owned() });
            }
        }
    }
    if area == "admin" {
        for (resource, href) in [
            ("user", "/admin/users"),
            ("role", "/admin/roles"),
            ("settings", "/admin/settings"),
            ("audit", "/admin/audit"),
        ] {
            if user.can(resource, "admin", Action::Read) {
                links.push(NavLink {
                    label: i18n::tr(locale, &format!("admin.{resource}")),
                    href: href.to_owned(),
                });
            }
        }
    }
    links
}

/// An error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// Chrome without navigation.
    pub c: Chrome,
    /// HTTP status.
    pub status: u16,
    /// What went wrong, translated.
    pub message: String,
}

impl ErrorPage {
    /// An error page in `locale`.
    pub fn new(locale: &str, status: u16, message: String) -> Self {
        let title = i18n::tr(locale, "error.title");
        ErrorPage { c: Chrome::anonymous(locale, &title), status, message }
    }
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// Chrome.
    pub c: Chrome,
    /// Double-submit CSRF token.
    pub login_csrf: String,
    /// User name typed so far.
    pub username: String,
    /// Why the last try failed.
    pub error: Option<String>,
}

/// A tile on the home page.
#[derive(Debug, Clone)]
pub struct HomeTile {
    /// The area.
    pub area: NavArea,
}

/// The home page: the areas the user's roles may enter.
#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    /// Chrome.
    pub c: Chrome,
    /// Roles, translated.
    pub roles: Vec<String>,
    /// Number of stock alerts, for users who may read stock.
    pub stock_alerts: Option<usize>,
}

/// One cell of a list.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Text.
    pub text: String,
    /// Right-aligned (numbers).
    pub numeric: bool,
}

/// One row of a master-data list.
#[derive(Debug, Clone)]
pub struct ListRow {
    /// Row id (as text: ids exceed JavaScript's safe integers).
    pub id: String,
    /// Cells in column order.
    pub cells: Vec<Cell>,
}

/// A list column header with its sort link.
#[derive(Debug, Clone)]
pub struct Column {
    /// Field name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Link that sorts by it.
    pub sort_href: String,
    /// `▲`, `▼` or empty.
    pub sort_mark: &'static str,
}

/// A filter select on a list.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Field name.
    pub name: String,
    /// Label.
    pub label: String,
    /// (value, label, selected).
    pub options: Vec<(String, String, bool)>,
}

/// Page links of a list.
#[derive(Debug, Clone)]
pub struct Pager {
    /// This page.
    pub page: i64,
    /// Last page.
    pub pages: i64,
    /// Rows in all.
    pub total: i64,
    /// Previous page's link.
    pub prev: Option<String>,
    /// Next page's link.
    pub next: Option<String>,
}

/// A master-data list page.
#[derive(Template)]
#[template(path = "master_list.html")]
pub struct MasterListPage {
    /// Chrome.
    pub c: Chrome,
    /// Entity kind.
    pub kind: String,
    /// Entity label.
    pub label: String,
    /// Search text.
    pub q: String,
    /// Columns.
    pub columns: Vec<Column>,
    /// Filters.
    pub filters: Vec<Filter>,
    /// Rows.
    pub rows: Vec<ListRow>,
    /// Paging.
    pub pager: Pager,
    /// May create.
    pub can_create: bool,
    /// May import.
    pub can_import: bool,
    /// May export.
    pub can_export: bool,
    /// Current query string (for export links).
    pub query: String,
    /// A one-time notice (after an import).
    pub notice: Option<String>,
}

/// One input of a master-data form.
#[derive(Debug, Clone)]
pub struct FormField {
    /// Field name.
    pub name: String,
    /// Label.
    pub label: String,
    /// `text`, `number`, `date`, `checkbox`, `select`, `ref`.
    pub input: &'static str,
    /// Current value.
    pub value: String,
    /// Required.
    pub required: bool,
    /// Read-only (codes after creation).
    pub readonly: bool,
    /// Options of a select (value, label).
    pub options: Vec<(String, String)>,
    /// The entity a reference points at (for the suggestions list).
    pub ref_kind: String,
    /// Suggestions for a reference (codes with names).
    pub suggestions: Vec<(String, String)>,
    /// Rule text when invalid.
    pub error: Option<String>,
    /// Most characters accepted.
    pub maxlength: usize,
}

/// A master-data create or edit form.
#[derive(Template)]
#[template(path = "master_form.html")]
pub struct MasterFormPage {
    /// Chrome.
    pub c: Chrome,
    /// Entity kind.
    pub kind: String,
    /// Entity label.
    pub label: String,
    /// Row id when editing.
    pub id: Option<String>,
    /// Version when editing.
    pub version: i64,
    /// Inputs.
    pub fields: Vec<FormField>,
    /// A message for the whole form (stale version, duplicate...).
    pub form_error: Option<String>,
    /// May save.
    pub can_save: bool,
    /// May delete or deactivate.
    pub can_delete: bool,
    /// Whether deleting deactivates.
    pub deactivates: bool,
}

//! The route table: every API route with the permission it needs.
//!
//! One declaration serves the OpenAPI document ([`crate::openapi`]) and the permission-matrix
//! test, which calls every route as every role and expects a refusal exactly where the table
//! says the role lacks the permission.

use papilio_core::access::{self, Action};
use papilio_core::document::DocAction;
use papilio_core::entities;
use papilio_store::documents::Registry;

/// What a route's body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// No body.
    None,
    /// A master-data record of this entity kind (all fields; `version` on updates).
    Record(&'static str),
    /// A document draft.
    Draft,
    /// `{"version": n, "comment": "..."}`.
    Transition,
    /// A file (CSV or XLSX).
    File,
    /// Some other JSON object, described in words.
    Json(&'static str),
}

/// One API route.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// `GET`, `POST`...
    pub method: &'static str,
    /// Path under the server root, with `{id}`-style parameters.
    pub path: String,
    /// Permission resource, or `None` when any signed-in user may call it.
    pub resource: Option<String>,
    /// The resource's area.
    pub area: &'static str,
    /// Required action.
    pub action: Action,
    /// One-line description.
    pub summary: String,
    /// OpenAPI tag (area or resource).
    pub tag: String,
    /// Request body.
    pub body: Body,
    /// Whether it answers a list (`{data, page, per_page, total}`).
    pub list: bool,
}

impl RouteSpec {
    fn new(
        method: &'static str,
        path: String,
        resource: Option<&str>,
        area: &'static str,
        action: Action,
    ) -> Self {
        RouteSpec {
            method,
            path,
            resource: resource.map(str::to_owned),
            area,
            action,
            summary: String::new(),
            tag: area.to_owned(),
            body: Body::None,
            list: false,
        }
    }

    fn summary(mut self, text: impl Into<String>) -> Self {
        self.summary = text.into();
        self
    }

    fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    fn list(mut self) -> Self {
        self.list = true;
        self
    }

    /// Whether `grants` allow calling it.
    pub fn allowed(&self, grants: &[access::Grant]) -> bool {
        match &self.resource {
            None => true,
            Some(r) => access::allowed(grants, r, self.area, self.action),
        }
    }
}

fn area_of(code: &str) -> &'static str {
    access::AREAS.iter().copied().find(|a| *a == code).unwrap_or("admin")
}

/// Every API route of the program with `docs` registered.
pub fn api_routes(docs: &Registry) -> Vec<RouteSpec> {
    use Action::*;
    let mut out = Vec::new();
    for def in entities::ALL {
        let (k, a) = (def.kind, def.area);
        let base = format!("/api/v1/{k}");
        let r = Some(k);
        out.push(
            RouteSpec::new("GET", base.clone(), r, a, Read)
                .summary(format!("List {k} rows"))
                .list(),
        );
        out.push(
            RouteSpec::new("POST", base.clone(), r, a, Create)
                .summary(format!("Create a {k}"))
                .body(Body::Record(k)),
        );
        out.push(
            RouteSpec::new("GET", format!("{base}/{{id}}"), r, a, Read)
                .summary(format!("Read a {k}")),
        );
        out.push(
            RouteSpec::new("PATCH", format!("{base}/{{id}}"), r, a, Update)
                .summary(format!("Change a {k} (send the version read)"))
                .body(Body::Record(k)),
        );
        out.push(
            RouteSpec::new("DELETE", format!("{base}/{{id}}"), r, a, Delete)
                .summary(format!("Delete or deactivate a {k} (query: version)")),
        );
        out.push(
            RouteSpec::new("GET", format!("{base}/export"), r, a, Export)
                .summary(format!("Export {k} rows as CSV or XLSX")),
        );
        out.push(
            RouteSpec::new("POST", format!("{base}/import"), r, a, Import)
                .summary(format!("Import {k} rows from CSV or XLSX: all or none"))
                .body(Body::File),
        );
    }
    for t in docs.iter() {
        let a = area_of(t.area);
        let base = format!("/api/v1/documents/{}", t.code);
        let r = Some(t.code);
        out.push(
            RouteSpec::new("GET", base.clone(), r, a, Read)
                .summary(format!("List {} documents", t.code))
                .list(),
        );
        out.push(
            RouteSpec::new("POST", base.clone(), r, a, Create)
                .summary(format!(
                    "Create a {} draft (query then=submit|approve: also submit, and approve \
                     when no approval is needed, in the same transaction)",
                    t.code
                ))
                .body(Body::Draft),
        );
        out.push(
            RouteSpec::new("GET", format!("{base}/{{id}}"), r, a, Read)
                .summary("Read a document with its lines"),
        );
        out.push(
            RouteSpec::new("PUT", format!("{base}/{{id}}"), r, a, Update)
                .summary("Replace a draft (send the version read)")
                .body(Body::Draft),
        );
        for action in DocAction::ALL {
            out.push(
                RouteSpec::new(
                    "POST",
                    format!("{base}/{{id}}/{}", action.code()),
                    r,
                    a,
                    action.permission(),
                )
                .summary(format!("{} the document", action.code()))
                .body(Body::Transition),
            );
        }
        for (what, summary) in [
            ("flow", "Documents upstream and downstream"),
            ("history", "State transitions: who and when"),
            ("approvals", "Approval requests and their reasons"),
            ("audit", "Audit trail"),
        ] {
            out.push(
                RouteSpec::new("GET", format!("{base}/{{id}}/{what}"), r, a, Read).summary(summary),
            );
        }
    }
    let me = |method, path: &str, summary: &str, body| {
        let mut s = RouteSpec::new(method, path.to_owned(), None, "admin", Read)
            .summary(summary)
            .body(body);
        s.tag = "me".into();
        s
    };
    out.push(me("GET", "/api/v1/me", "The signed-in user, roles and grants", Body::None));
    out.push(me("PUT", "/api/v1/me/locale", "Set my language", Body::Json("{locale}")));
    out.push(me("POST", "/api/v1/me/password", "Change my password", Body::Json("{current, new}")));
    out.push(me("GET", "/api/v1/me/tokens", "My API tokens", Body::None));
    out.push(me(
        "POST",
        "/api/v1/me/tokens",
        "Issue an API token (shown once)",
        Body::Json("{name}"),
    ));
    out.push(me("DELETE", "/api/v1/me/tokens/{id}", "Revoke an API token", Body::None));
    out.push(me("GET", "/api/v1/inbox", "Documents waiting for my approval", Body::None));
    let admin = |method, path: &str, resource: &str, action, summary: &str, body| {
        let mut s = RouteSpec::new(method, path.to_owned(), Some(resource), "admin", action)
            .summary(summary)
            .body(body);
        s.tag = "admin".into();
        s
    };
    out.push(admin("GET", "/api/v1/users", "user", Read, "List users", Body::None));
    out.push(admin(
        "POST",
        "/api/v1/users",
        "user",
        Create,
        "Create a user",
        Body::Json("{username, display_name, password, locale, roles}"),
    ));
    out.push(admin("GET", "/api/v1/users/{id}", "user", Read, "Read a user", Body::None));
    out.push(admin(
        "PATCH",
        "/api/v1/users/{id}",
        "user",
        Update,
        "Change a user",
        Body::Json("{version, display_name, locale, active, roles}"),
    ));
    out.push(admin(
        "POST",
        "/api/v1/users/{id}/password",
        "user",
        Update,
        "Set a user's password",
        Body::Json("{password}"),
    ));
    out.push(admin("GET", "/api/v1/roles", "role", Read, "Roles with their grants", Body::None));
    out.push(admin(
        "PUT",
        "/api/v1/roles/{code}",
        "role",
        Update,
        "Define a custom role",
        Body::Json("{grants: [{resource, action}]}"),
    ));
    out.push(admin(
        "GET",
        "/api/v1/settings",
        "settings",
        Read,
        "Company settings and fiscal periods",
        Body::None,
    ));
    out.push(admin(
        "PUT",
        "/api/v1/settings",
        "settings",
        Update,
        "Change company settings",
        Body::Json("{version, name, base_currency, fiscal_year_start_month}"),
    ));
    out.push(admin(
        "GET",
        "/api/v1/audit",
        "audit",
        Read,
        "The audit trail, filtered and paged",
        Body::None,
    ));
    out.extend(stock_view_routes());
    out.extend(stock_analysis_routes());
    out.extend(count_routes());
    out.extend(sales_routes());
    out.extend(sales_report_routes());
    out.extend(engineering_routes());
    out.push(inventory(
        "GET",
        "/api/v1/stock/lots",
        "stock",
        Action::Read,
        "Lots in stock with a FIFO or FEFO pick suggestion (query: item, warehouse, qty, policy)",
    ));
    out
}

/// An inventory route needing `action` on `resource`.
fn inventory(
    method: &'static str,
    path: &str,
    resource: &str,
    action: Action,
    summary: &str,
) -> RouteSpec {
    let mut s = RouteSpec::new(method, path.to_owned(), Some(resource), "inventory", action)
        .summary(summary);
    s.tag = "inventory".into();
    s
}

/// Stock balances, stock card, alerts, reservations, ledger check.
fn stock_view_routes() -> Vec<RouteSpec> {
    use Action::*;
    vec![
        inventory(
            "GET",
            "/api/v1/stock/balances",
            "stock",
            Read,
            "Stock on hand by item, warehouse, bin or lot, now or as of a date \
             (query: item, warehouse, category, nonzero, as_of, group, page, per_page)",
        )
        .list(),
        inventory(
            "GET",
            "/api/v1/stock/balances/export",
            "stock",
            Export,
            "Stock on hand as CSV (same query as the list)",
        ),
        inventory(
            "GET",
            "/api/v1/stock/card",
            "stock",
            Read,
            "Stock card: every move of an item with running balances (query: item, \
             warehouse, from, to)",
        ),
        inventory(
            "GET",
            "/api/v1/stock/alerts",
            "stock",
            Read,
            "Items below safety stock, at or below the reorder point, or above maximum",
        )
        .list(),
        inventory("GET", "/api/v1/stock/alerts/export", "stock", Export, "Stock alerts as CSV"),
        inventory(
            "GET",
            "/api/v1/stock/reservations",
            "stock",
            Read,
            "Stock reserved per item and warehouse (query: item, warehouse)",
        )
        .list(),
        inventory(
            "GET",
            "/api/v1/stock/default_bins",
            "stock",
            Read,
            "Default put-away bins per item and warehouse (query: item)",
        )
        .list(),
        inventory(
            "PUT",
            "/api/v1/stock/default_bins",
            "stock",
            Update,
            "Set an item's default bin in a warehouse (empty bin clears it)",
        )
        .body(Body::Json("{item, warehouse, bin}")),
        inventory(
            "GET",
            "/api/v1/stock/check",
            "stock",
            Approve,
            "Check the stock ledger's invariants: {ok, problems}",
        ),
    ]
}

/// Slow-moving and ageing analysis, turnover.
fn stock_analysis_routes() -> Vec<RouteSpec> {
    use Action::Read;
    vec![
        inventory(
            "GET",
            "/api/v1/stock/slow-moving",
            "stock",
            Read,
            "Slow-moving stock per item and warehouse, most idle first \
             (query: warehouse, min_days = 90, as_of)",
        ),
        inventory(
            "GET",
            "/api/v1/stock/ageing",
            "stock",
            Read,
            "Stock by age since receipt, quantity and value per bucket \
             (query: warehouse, buckets = 30,90,180,365, as_of)",
        ),
        inventory(
            "GET",
            "/api/v1/stock/turnover",
            "stock",
            Read,
            "Turnover and days of inventory over a period (query: from, to, group = category|item)",
        ),
    ]
}

/// Physical counts and count-variance analysis.
fn count_routes() -> Vec<RouteSpec> {
    use Action::*;
    let r = "stock_count";
    vec![
        inventory("GET", "/api/v1/stock/counts", r, Read, "Started counts, newest first").list(),
        inventory(
            "POST",
            "/api/v1/stock/counts",
            r,
            Create,
            "Start a count: freeze book quantities of a warehouse, some bins or an ABC class",
        )
        .body(Body::Json("{warehouse, bins?: [bin], class?: A|B|C, date?, note?}")),
        inventory(
            "GET",
            "/api/v1/stock/counts/analysis",
            r,
            Read,
            "Count-variance analysis by bin, class, category, clerk and move type (from, to)",
        ),
        inventory("GET", "/api/v1/stock/counts/{id}", r, Read, "A count with its variance"),
        inventory(
            "PUT",
            "/api/v1/stock/counts/{id}/quantities",
            r,
            Update,
            "Enter counted quantities while the count is a draft",
        )
        .body(Body::Json("{version, lines: [{item, warehouse, bin, lot, counted}]}")),
        inventory(
            "POST",
            "/api/v1/stock/counts/{id}/upload",
            r,
            Update,
            "Upload counted quantities: CSV or XLSX with item, warehouse, bin, lot, counted",
        )
        .body(Body::File),
    ]
}

/// A sales route needing `action` on `resource`.
fn sales(
    method: &'static str,
    path: &str,
    resource: &str,
    action: Action,
    summary: &str,
) -> RouteSpec {
    RouteSpec::new(method, path.to_owned(), Some(resource), "sales", action).summary(summary)
}

/// Price simulation, sales settings, credit and the sales reports.
fn sales_routes() -> Vec<RouteSpec> {
    use crate::api::sales::{PRICE_RESOURCE, REPORT_RESOURCE, SETTINGS_RESOURCE};
    use Action::*;
    vec![
        sales(
            "GET",
            "/api/v1/sales/price",
            PRICE_RESOURCE,
            Read,
            "What customer X pays for N of item Y on date D, and why (query: customer, item, quantity, date)",
        ),
        sales("GET", "/api/v1/sales/settings", SETTINGS_RESOURCE, Read, "Sales settings: credit action, overdue days, cost history, target margin"),
        sales("PUT", "/api/v1/sales/settings", SETTINGS_RESOURCE, Update, "Change the sales settings")
            .body(Body::Json("{version, credit_action: approve|block, overdue_days, cost_history_months, target_margin_pct}")),
        sales("GET", "/api/v1/sales/credit", REPORT_RESOURCE, Read, "Credit status per customer: limit, exposure, overdue days"),
    ]
}

/// Sales reports: execution tracking, receivables ageing, gross margin, targets.
fn sales_report_routes() -> Vec<RouteSpec> {
    use crate::api::sales::REPORT_RESOURCE;
    use Action::*;
    vec![
        sales(
            "GET",
            "/api/v1/sales/execution",
            REPORT_RESOURCE,
            Read,
            "Order execution per sales order line: ordered, delivered, invoiced, paid, backlog, \
             late, with the document flow (query: customer, salesperson, item, order, from, to, \
             status = all|open|late|delivered|invoiced|paid|closed, as_of)",
        ),
        sales(
            "GET",
            "/api/v1/sales/receivables",
            REPORT_RESOURCE,
            Read,
            "Receivables ageing per customer in five buckets, with the open items \
             (query: customer, salesperson, as_of)",
        ),
        sales(
            "GET",
            "/api/v1/sales/margin",
            REPORT_RESOURCE,
            Read,
            "Gross margin of deliveries less returns from the ledger cost (query: \
             by = order|customer|item|salesperson|month, from, to, customer, salesperson, item)",
        ),
        sales(
            "GET",
            "/api/v1/sales/targets",
            REPORT_RESOURCE,
            Read,
            "Sales targets against invoiced sales per salesperson, team and month, and the \
             monthly plan (query: year)",
        ),
    ]
}

/// An engineering route needing `action` on `resource`.
fn engineering(
    method: &'static str,
    path: &str,
    resource: &str,
    action: Action,
    summary: &str,
) -> RouteSpec {
    RouteSpec::new(method, path.to_owned(), Some(resource), "engineering", action).summary(summary)
}

/// Engineering: BOMs, work centres, routings, ECOs, explosion, where-used, cost roll-up.
fn engineering_routes() -> Vec<RouteSpec> {
    use crate::api::engineering::{BOM_RESOURCE as B, COST_RESOURCE as C, ROUTING_RESOURCE as R};
    use Action::*;
    let bom_body = "{item, version, customer, valid_from, valid_to, note, lines: [{component, \
                    qty_per, unit, scrap_pct, operation_seq, issue_method: picked|backflushed, note}]}";
    let routing_body = "{item, version, lot_size, valid_from, valid_to, note, operations: [{seq, \
                        work_centre, description, setup_hours, run_hours, queue_hours, move_hours, \
                        subcontracted, supplier, subcontract_fee}]}";
    let mut out = Vec::new();
    for (r, base, what, body) in [
        (B, "/api/v1/engineering/boms", "BOM", bom_body),
        (R, "/api/v1/engineering/routings", "routing", routing_body),
    ] {
        out.extend([
            engineering("GET", base, r, Read, &format!("{what} versions without lines (query: item, status, customer, page, per_page)")).list(),
            engineering("POST", base, r, Create, &format!("Create a draft {what} version")).body(Body::Json(body)),
            engineering("GET", &format!("{base}/{{id}}"), r, Read, &format!("A {what} version with its lines")),
            engineering("PUT", &format!("{base}/{{id}}"), r, Update, &format!("Replace a draft {what} version (send lock_version)"))
                .body(Body::Json(body)),
            engineering("POST", &format!("{base}/{{id}}/approve"), r, Approve, &format!("Approve a draft {what} version with its own dates (a BOM that would loop is refused naming the loop)"))
                .body(Body::Json("{lock_version}")),
            engineering("POST", &format!("{base}/{{id}}/obsolete"), r, Delete, &format!("Make a {what} version obsolete"))
                .body(Body::Json("{lock_version}")),
            engineering("GET", &format!("{base}/compare"), r, Read, &format!("Compare two {what} versions line by line (query: a, b ids)")),
            engineering("GET", &format!("{base}/export"), r, Export, &format!("{what} versions as CSV or XLSX, one row per line (query: format, item, status)")),
            engineering("POST", &format!("{base}/import"), r, Import, &format!("Import {what} versions from CSV or XLSX as drafts: all rows or none"))
                .body(Body::File),
        ]);
    }
    out.extend([
        engineering("GET", "/api/v1/engineering/explode", B, Read, "Multi-level indented explosion with scrap and units (query: item, qty, date, customer)"),
        engineering("GET", "/api/v1/engineering/where-used", B, Read, "Where an item is used, one level or all (query: item, multi, date, customer)"),
        engineering("GET", "/api/v1/engineering/cost-rollups", C, Read, "Standard cost roll-up runs, newest first"),
        engineering("POST", "/api/v1/engineering/cost-rollups", C, Create, "Roll standard cost up through all levels and store the run")
            .body(Body::Json("{as_of}")),
        engineering("GET", "/api/v1/engineering/costs/{code}", C, Read, "An item's latest cost sheet, per level and per operation"),
        engineering("GET", "/api/v1/engineering/costs/{code}/history", C, Read, "An item's standard cost in every run (query: limit)"),
        engineering("GET", "/api/v1/engineering/ecos/{id}/impact", papilio_store::engineering::ECO_TYPE, Read, "What an approved engineering change switched and the open orders it touches"),
    ]);
    out
}

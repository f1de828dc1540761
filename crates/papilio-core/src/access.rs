//! Who may do what: areas, actions, the built-in roles and the permission check.
//!
//! A grant gives a role one action on a resource. A resource is a master-data kind (`item`), a
//! document type (`sales_order`) or an administrative object (`user`, `role`, `audit`); a grant
//! may also name a whole area (`area:sales`) or everything (`*`). Built-in roles are seeded
//! from [`BUILTIN_ROLES`]; administrators can add roles of their own.

/// The business areas, in home-page order.
pub const AREAS: &[&str] = &[
    "sales",
    "purchasing",
    "inventory",
    "production",
    "planning",
    "engineering",
    "finance",
    "service",
    "insight",
    "admin",
];

/// Something a user can do to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See lists and records.
    Read,
    /// Create records or documents.
    Create,
    /// Change them.
    Update,
    /// Deactivate or delete them.
    Delete,
    /// Import from files.
    Import,
    /// Export to files.
    Export,
    /// Submit documents (and recall them).
    Submit,
    /// Approve documents (and reject them).
    Approve,
    /// Reverse approvals.
    Unapprove,
    /// Close and reopen documents.
    Close,
    /// Cancel documents.
    Cancel,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 11] = [
        Action::Read,
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Import,
        Action::Export,
        Action::Submit,
        Action::Approve,
        Action::Unapprove,
        Action::Close,
        Action::Cancel,
    ];

    /// Stable code, as stored.
    pub fn code(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Import => "import",
            Action::Export => "export",
            Action::Submit => "submit",
            Action::Approve => "approve",
            Action::Unapprove => "unapprove",
            Action::Close => "close",
            Action::Cancel => "cancel",
        }
    }

    /// The action stored as `code`.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.code() == code)
    }
}

/// Administrative resources, all in the `admin` area.
pub const ADMIN_RESOURCES: &[&str] = &["user", "role", "audit", "settings"];

/// One stored grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `item`, `area:sales` or `*`.
    pub resource: String,
    /// What it allows.
    pub action: Action,
}

/// Whether `grants` allow `action` on `resource`, which lives in `area`.
pub fn allowed(grants: &[Grant], resource: &str, area: &str, action: Action) -> bool {
    grants.iter().any(|g| {
        g.action == action
            && (g.resource == "*"
                || g.resource == resource
                || g.resource.strip_prefix("area:") == Some(area))
    })
}

/// Whether `grants` allow anything at all in `area` (for the home page).
pub fn may_enter(grants: &[Grant], area: &str) -> bool {
    grants.iter().any(|g| {
        g.action == Action::Read
            && (g.resource == "*" || g.resource.strip_prefix("area:") == Some(area))
    })
}

/// A built-in role and what it is granted.
#[derive(Debug, Clone, Copy)]
pub struct RoleDef {
    /// Stable code.
    pub code: &'static str,
    /// Grants as (resource, actions).
    pub grants: &'static [(&'static str, &'static [Action])],
}

use Action::*;

const READ: &[Action] = &[Read, Export];
const WORK: &[Action] = &[Read, Create, Update, Export, Submit, Cancel];
const MANAGE: &[Action] =
    &[Read, Create, Update, Delete, Import, Export, Submit, Approve, Unapprove, Close, Cancel];
const ALL_READ: (&str, &[Action]) = ("*", READ);

/// The built-in roles of MISSION.md, each with the areas it works in.
pub const BUILTIN_ROLES: &[RoleDef] = &[
    RoleDef { code: "administrator", grants: &[("*", MANAGE)] },
    RoleDef { code: "ceo", grants: &[ALL_READ, ("area:insight", MANAGE)] },
    RoleDef {
        code: "cfo",
        grants: &[ALL_READ, ("area:finance", MANAGE), ("area:insight", MANAGE)],
    },
    RoleDef { code: "vp_sales", grants: &[ALL_READ, ("area:sales", MANAGE)] },
    RoleDef { code: "finance_manager", grants: &[ALL_READ, ("area:finance", MANAGE)] },
    RoleDef { code: "cost_accountant", grants: &[ALL_READ, ("area:finance", WORK)] },
    RoleDef {
        code: "sales_manager",
        grants: &[
            ("area:sales", MANAGE),
            ("area:inventory", READ),
            ("area:engineering", READ),
            ("area:service", READ),
            ("area:insight", READ),
        ],
    },
    // A salesperson works on customers and on the documents from quotation to receipt, and
    // reads price lists, policies, targets, reports and settings: what the company charges
    // and allows is the sales manager's to change.
    RoleDef {
        code: "salesperson",
        grants: &[
            ("area:sales", READ),
            ("customer", WORK),
            ("customer_contact", WORK),
            ("customer_address", WORK),
            ("sales_quotation", WORK),
            ("sales_order", WORK),
            ("sales_delivery", WORK),
            ("sales_return", WORK),
            ("sales_invoice", WORK),
            ("sales_credit_note", WORK),
            ("customer_receipt", WORK),
            ("area:inventory", READ),
            ("area:engineering", READ),
        ],
    },
    RoleDef {
        code: "planning_manager",
        grants: &[
            ("area:planning", MANAGE),
            ("area:engineering", READ),
            ("area:inventory", READ),
            ("area:purchasing", READ),
            ("area:production", READ),
            ("area:sales", READ),
        ],
    },
    RoleDef {
        code: "engineering_manager",
        grants: &[
            ("area:engineering", MANAGE),
            ("area:inventory", READ),
            ("area:production", READ),
        ],
    },
    RoleDef {
        code: "purchasing_manager",
        grants: &[
            ("area:purchasing", MANAGE),
            ("area:engineering", READ),
            ("area:inventory", READ),
            ("area:planning", READ),
        ],
    },
    RoleDef {
        code: "buyer",
        grants: &[("area:purchasing", WORK), ("area:engineering", READ), ("area:inventory", READ)],
    },
    RoleDef {
        code: "warehouse_manager",
        grants: &[
            ("area:inventory", MANAGE),
            ("area:engineering", READ),
            ("area:purchasing", READ),
            ("area:sales", READ),
        ],
    },
    RoleDef {
        code: "warehouse_clerk",
        grants: &[("area:inventory", WORK), ("area:engineering", READ)],
    },
    RoleDef {
        code: "production_manager",
        grants: &[
            ("area:production", MANAGE),
            ("area:engineering", READ),
            ("area:inventory", READ),
            ("area:planning", READ),
        ],
    },
    RoleDef {
        code: "service_manager",
        grants: &[("area:service", MANAGE), ("area:sales", READ), ("area:inventory", READ)],
    },
    RoleDef {
        code: "service_engineer",
        grants: &[("area:service", WORK), ("area:inventory", READ)],
    },
];

/// Expands a built-in role into grants.
pub fn builtin_grants(role: &RoleDef) -> Vec<Grant> {
    role.grants
        .iter()
        .flat_map(|(resource, actions)| {
            actions.iter().map(|a| Grant { resource: (*resource).to_owned(), action: *a })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants_of(code: &str) -> Vec<Grant> {
        builtin_grants(BUILTIN_ROLES.iter().find(|r| r.code == code).unwrap())
    }

    #[test]
    fn clerk_works_in_inventory_but_cannot_approve_or_touch_sales() {
        let clerk = grants_of("warehouse_clerk");
        assert!(allowed(&clerk, "warehouse", "inventory", Action::Create));
        assert!(!allowed(&clerk, "warehouse", "inventory", Action::Approve));
        assert!(!allowed(&clerk, "customer", "sales", Action::Read));
        assert!(allowed(&clerk, "item", "engineering", Action::Read));
        assert!(!allowed(&clerk, "item", "engineering", Action::Update));
        assert!(may_enter(&clerk, "inventory"));
        assert!(!may_enter(&clerk, "admin"));
    }

    #[test]
    fn ceo_reads_everything_and_changes_nothing_outside_insight() {
        let ceo = grants_of("ceo");
        for area in AREAS {
            assert!(may_enter(&ceo, area));
        }
        assert!(!allowed(&ceo, "item", "engineering", Action::Create));
        assert!(!allowed(&ceo, "user", "admin", Action::Update));
    }

    #[test]
    fn role_codes_are_unique() {
        let mut codes: Vec<_> = BUILTIN_ROLES.iter().map(|r| r.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), BUILTIN_ROLES.len());
        assert_eq!(BUILTIN_ROLES.len(), 17);
    }
}

-- Papilio foundation: users and access, audit, company, master data, the document framework.
-- Portable subset for SQLite and PostgreSQL: BIGINT for integers, flags (0/1) and decimals
-- scaled by 10^6; TEXT for codes, dates (ISO 8601) and timestamps (RFC 3339 UTC).

CREATE TABLE users (
    id BIGINT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    locale TEXT NOT NULL DEFAULT 'zh-CN',
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE roles (
    code TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    builtin BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE role_grants (
    role_code TEXT NOT NULL REFERENCES roles (code) ON DELETE CASCADE,
    resource TEXT NOT NULL,
    action TEXT NOT NULL,
    PRIMARY KEY (role_code, resource, action)
);

CREATE TABLE user_roles (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_code TEXT NOT NULL REFERENCES roles (code) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_code)
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE login_attempts (
    id BIGINT PRIMARY KEY,
    username TEXT NOT NULL,
    address TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    success BIGINT NOT NULL
);
CREATE INDEX login_attempts_user ON login_attempts (username, at_ms);
CREATE INDEX login_attempts_address ON login_attempts (address, at_ms);

CREATE TABLE audit_log (
    id BIGINT PRIMARY KEY,
    entity TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    action TEXT NOT NULL,
    user_id BIGINT,
    at TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);

CREATE TABLE idempotency_keys (
    user_id BIGINT NOT NULL,
    idem_key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status BIGINT,
    content_type TEXT,
    body TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);

-- Master data. Natural keys are upper-case codes that never change; references hold codes.

CREATE TABLE currencies (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    symbol TEXT,
    decimals BIGINT NOT NULL DEFAULT 2,
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE company (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    base_currency TEXT NOT NULL REFERENCES currencies (code),
    fiscal_year_start_month BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL
);

CREATE TABLE fiscal_periods (
    fiscal_year BIGINT NOT NULL,
    period BIGINT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    closed BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (fiscal_year, period)
);

CREATE TABLE exchange_rates (
    id BIGINT PRIMARY KEY,
    currency TEXT NOT NULL REFERENCES currencies (code),
    rate_date TEXT NOT NULL,
    rate BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (currency, rate_date)
);

CREATE TABLE units (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    decimals BIGINT NOT NULL DEFAULT 0,
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE item_categories (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    parent TEXT REFERENCES item_categories (code),
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE warehouses (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    address TEXT,
    allow_negative BIGINT NOT NULL DEFAULT 0,
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE bins (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    warehouse TEXT NOT NULL REFERENCES warehouses (code),
    name TEXT,
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX bins_warehouse ON bins (warehouse);

CREATE TABLE items (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    category TEXT REFERENCES item_categories (code),
    item_type TEXT NOT NULL,
    base_unit TEXT NOT NULL REFERENCES units (code),
    purchase_unit TEXT REFERENCES units (code),
    sales_unit TEXT REFERENCES units (code),
    lot_tracked BIGINT NOT NULL DEFAULT 0,
    lead_time_days BIGINT NOT NULL DEFAULT 0,
    safety_stock BIGINT NOT NULL DEFAULT 0,
    reorder_point BIGINT NOT NULL DEFAULT 0,
    max_stock BIGINT,
    lot_sizing TEXT NOT NULL DEFAULT 'lot_for_lot',
    fixed_lot BIGINT,
    min_lot BIGINT,
    lot_multiple BIGINT,
    standard_cost BIGINT NOT NULL DEFAULT 0,
    default_warehouse TEXT REFERENCES warehouses (code),
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX items_category ON items (category);

CREATE TABLE unit_conversions (
    id BIGINT PRIMARY KEY,
    item TEXT REFERENCES items (code),
    from_unit TEXT NOT NULL REFERENCES units (code),
    to_unit TEXT NOT NULL REFERENCES units (code),
    factor BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (item, from_unit, to_unit)
);

CREATE TABLE payment_terms (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    days BIGINT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE customer_groups (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    credit_limit BIGINT,
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE departments (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    parent TEXT REFERENCES departments (code),
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE employees (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    department TEXT REFERENCES departments (code),
    title TEXT,
    username TEXT UNIQUE REFERENCES users (username),
    email TEXT,
    phone TEXT,
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE customers (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    customer_group TEXT REFERENCES customer_groups (code),
    currency TEXT NOT NULL REFERENCES currencies (code),
    payment_term TEXT REFERENCES payment_terms (code),
    credit_limit BIGINT,
    salesperson TEXT REFERENCES employees (code),
    tax_id TEXT,
    phone TEXT,
    email TEXT,
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE customer_contacts (
    id BIGINT PRIMARY KEY,
    customer TEXT NOT NULL REFERENCES customers (code),
    name TEXT NOT NULL,
    title TEXT,
    phone TEXT,
    email TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX customer_contacts_customer ON customer_contacts (customer);

CREATE TABLE customer_addresses (
    id BIGINT PRIMARY KEY,
    customer TEXT NOT NULL REFERENCES customers (code),
    kind TEXT NOT NULL,
    line1 TEXT NOT NULL,
    city TEXT,
    province TEXT,
    postcode TEXT,
    country TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX customer_addresses_customer ON customer_addresses (customer);

CREATE TABLE suppliers (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    currency TEXT NOT NULL REFERENCES currencies (code),
    payment_term TEXT REFERENCES payment_terms (code),
    lead_time_days BIGINT NOT NULL DEFAULT 0,
    tax_id TEXT,
    phone TEXT,
    email TEXT,
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE supplier_contacts (
    id BIGINT PRIMARY KEY,
    supplier TEXT NOT NULL REFERENCES suppliers (code),
    name TEXT NOT NULL,
    title TEXT,
    phone TEXT,
    email TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX supplier_contacts_supplier ON supplier_contacts (supplier);

-- The document framework.

CREATE TABLE number_series (
    doc_type TEXT NOT NULL,
    period TEXT NOT NULL,
    next_value BIGINT NOT NULL,
    PRIMARY KEY (doc_type, period)
);

CREATE TABLE documents (
    id BIGINT PRIMARY KEY,
    doc_type TEXT NOT NULL,
    number TEXT NOT NULL,
    state TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    doc_date TEXT NOT NULL,
    partner TEXT,
    currency TEXT REFERENCES currencies (code),
    note TEXT,
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (doc_type, number)
);
CREATE INDEX documents_type_state ON documents (doc_type, state);

CREATE TABLE document_lines (
    id BIGINT PRIMARY KEY,
    document_id BIGINT NOT NULL REFERENCES documents (id),
    line_no BIGINT NOT NULL,
    item TEXT REFERENCES items (code),
    quantity BIGINT NOT NULL,
    unit TEXT REFERENCES units (code),
    unit_price BIGINT,
    amount BIGINT,
    warehouse TEXT REFERENCES warehouses (code),
    due_date TEXT,
    note TEXT,
    source_line_id BIGINT REFERENCES document_lines (id),
    carried_qty BIGINT NOT NULL DEFAULT 0,
    UNIQUE (document_id, line_no)
);
CREATE INDEX document_lines_source ON document_lines (source_line_id);

CREATE TABLE document_transitions (
    id BIGINT PRIMARY KEY,
    document_id BIGINT NOT NULL REFERENCES documents (id),
    from_state TEXT NOT NULL,
    action TEXT NOT NULL,
    to_state TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id),
    at TEXT NOT NULL,
    comment TEXT
);
CREATE INDEX document_transitions_document ON document_transitions (document_id);

CREATE TABLE approval_requests (
    id BIGINT PRIMARY KEY,
    document_id BIGINT NOT NULL REFERENCES documents (id),
    rule_code TEXT NOT NULL,
    params_json TEXT NOT NULL,
    required_role TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decided_by BIGINT REFERENCES users (id),
    decided_at TEXT
);
CREATE INDEX approval_requests_open ON approval_requests (status, required_role);
CREATE INDEX approval_requests_document ON approval_requests (document_id);

-- Sales 销售: price lists and discount policies, price controls, credit settings, the trade
-- fields of document lines (list price, discount, why this price, promise, cost estimate),
-- receivable and payable open items, reservations per order line, and sales targets.
-- Money and quantities are BIGINT scaled by 10^6, as everywhere.

ALTER TABLE document_lines ADD COLUMN list_price BIGINT;
ALTER TABLE document_lines ADD COLUMN discount_pct BIGINT;
ALTER TABLE document_lines ADD COLUMN promised_date TEXT;
ALTER TABLE document_lines ADD COLUMN est_unit_cost BIGINT;
ALTER TABLE document_lines ADD COLUMN cost_basis TEXT;
ALTER TABLE document_lines ADD COLUMN explain_json TEXT;
ALTER TABLE document_lines ADD COLUMN settles BIGINT REFERENCES documents (id);
CREATE INDEX document_lines_settles ON document_lines (settles);
ALTER TABLE documents ADD COLUMN salesperson TEXT;
ALTER TABLE documents ADD COLUMN due_date TEXT;
CREATE INDEX documents_type_partner ON documents (doc_type, partner, state);

ALTER TABLE items ADD COLUMN floor_price BIGINT;
ALTER TABLE items ADD COLUMN max_order_qty BIGINT;
ALTER TABLE customer_groups ADD COLUMN max_discount_pct BIGINT;
ALTER TABLE employees ADD COLUMN order_amount_limit BIGINT;

CREATE TABLE sales_prices (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    item TEXT NOT NULL REFERENCES items (code),
    currency TEXT NOT NULL REFERENCES currencies (code),
    customer_group TEXT REFERENCES customer_groups (code),
    customer TEXT REFERENCES customers (code),
    min_qty BIGINT NOT NULL DEFAULT 0,
    price BIGINT NOT NULL,
    valid_from TEXT,
    valid_to TEXT,
    special BIGINT NOT NULL DEFAULT 0,
    weekday BIGINT,
    last_days BIGINT,
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX sales_prices_item ON sales_prices (item, currency);

CREATE TABLE discount_policies (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    basis TEXT NOT NULL,
    customer_group TEXT REFERENCES customer_groups (code),
    item_category TEXT REFERENCES item_categories (code),
    min_amount BIGINT,
    currency TEXT REFERENCES currencies (code),
    percent BIGINT,
    amount BIGINT,
    valid_from TEXT,
    valid_to TEXT,
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE sales_targets (
    id BIGINT PRIMARY KEY,
    salesperson TEXT NOT NULL REFERENCES employees (code),
    year BIGINT NOT NULL,
    month BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (salesperson, year, month)
);

CREATE TABLE sales_settings (
    id BIGINT PRIMARY KEY,
    credit_action TEXT NOT NULL DEFAULT 'approve',
    overdue_days BIGINT NOT NULL DEFAULT 30,
    cost_history_months BIGINT NOT NULL DEFAULT 6,
    target_margin_pct BIGINT NOT NULL DEFAULT 20000000,
    version BIGINT NOT NULL DEFAULT 1
);
INSERT INTO sales_settings (id) VALUES (1);

-- One row per approved invoice or credit note (receivable) or supplier invoice (payable);
-- receipts and payments reduce open_amount. Credit notes are negative.
CREATE TABLE open_items (
    document_id BIGINT PRIMARY KEY REFERENCES documents (id),
    side TEXT NOT NULL,
    partner TEXT NOT NULL,
    currency TEXT,
    amount BIGINT NOT NULL,
    open_amount BIGINT NOT NULL,
    doc_date TEXT NOT NULL,
    due_date TEXT NOT NULL
);
CREATE INDEX open_items_partner ON open_items (side, partner);

-- What an approved sales order line holds reserved (base units, in the line's warehouse).
CREATE TABLE sales_reservations (
    line_id BIGINT PRIMARY KEY REFERENCES document_lines (id),
    item TEXT NOT NULL REFERENCES items (code),
    warehouse TEXT NOT NULL REFERENCES warehouses (code),
    qty BIGINT NOT NULL
);

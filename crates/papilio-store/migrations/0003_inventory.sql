-- Inventory: the stock ledger, balances per item, warehouse, bin and lot, moving-average
-- values, lots, reservations, and the document fields stock documents need.
-- "No bin" and "no lot" are stored as '' so they can be part of a primary key.

ALTER TABLE document_lines ADD COLUMN bin TEXT;
ALTER TABLE document_lines ADD COLUMN to_warehouse TEXT;
ALTER TABLE document_lines ADD COLUMN to_bin TEXT;
ALTER TABLE document_lines ADD COLUMN lot TEXT;
ALTER TABLE document_lines ADD COLUMN lot_expiry TEXT;
ALTER TABLE document_lines ADD COLUMN book_qty BIGINT;
ALTER TABLE documents ADD COLUMN reason TEXT;
ALTER TABLE company ADD COLUMN valuation_scope TEXT NOT NULL DEFAULT 'company';

CREATE TABLE stock_reasons (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    direction TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE lots (
    item TEXT NOT NULL REFERENCES items (code),
    lot_no TEXT NOT NULL,
    received_date TEXT NOT NULL,
    expiry_date TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (item, lot_no)
);

CREATE TABLE stock_moves (
    id BIGINT PRIMARY KEY,
    item TEXT NOT NULL REFERENCES items (code),
    warehouse TEXT NOT NULL REFERENCES warehouses (code),
    bin TEXT NOT NULL DEFAULT '',
    lot TEXT NOT NULL DEFAULT '',
    qty BIGINT NOT NULL,
    unit_cost BIGINT NOT NULL,
    value BIGINT NOT NULL,
    document_id BIGINT NOT NULL REFERENCES documents (id),
    line_id BIGINT NOT NULL REFERENCES document_lines (id),
    doc_type TEXT NOT NULL,
    move_date TEXT NOT NULL,
    posted_at TEXT NOT NULL,
    reverses BIGINT REFERENCES stock_moves (id)
);
CREATE INDEX stock_moves_item_date ON stock_moves (item, move_date);
CREATE INDEX stock_moves_date ON stock_moves (move_date);
CREATE INDEX stock_moves_line ON stock_moves (line_id);
CREATE INDEX stock_moves_document ON stock_moves (document_id);

CREATE TABLE stock_balances (
    item TEXT NOT NULL REFERENCES items (code),
    warehouse TEXT NOT NULL REFERENCES warehouses (code),
    bin TEXT NOT NULL DEFAULT '',
    lot TEXT NOT NULL DEFAULT '',
    qty BIGINT NOT NULL,
    PRIMARY KEY (item, warehouse, bin, lot)
);
CREATE INDEX stock_balances_warehouse ON stock_balances (warehouse, item);

CREATE TABLE stock_values (
    item TEXT NOT NULL REFERENCES items (code),
    scope TEXT NOT NULL,
    qty BIGINT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (item, scope)
);

CREATE TABLE stock_reserved (
    item TEXT NOT NULL REFERENCES items (code),
    warehouse TEXT NOT NULL REFERENCES warehouses (code),
    qty BIGINT NOT NULL,
    PRIMARY KEY (item, warehouse)
);

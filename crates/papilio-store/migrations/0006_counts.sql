-- Physical counts 盘点: what a started count froze, and how it was started.
-- A freeze holds while its stock_count document is a draft or submitted; approving or
-- cancelling the document releases it (no row changes: the document's state decides).

CREATE TABLE stock_counts (
    document_id BIGINT PRIMARY KEY REFERENCES documents (id),
    warehouse TEXT NOT NULL REFERENCES warehouses (code),
    scope TEXT NOT NULL,
    scope_value TEXT NOT NULL DEFAULT '',
    started_by BIGINT NOT NULL REFERENCES users (id),
    started_at TEXT NOT NULL
);

CREATE TABLE stock_count_freezes (
    document_id BIGINT NOT NULL REFERENCES documents (id),
    item TEXT NOT NULL REFERENCES items (code),
    warehouse TEXT NOT NULL REFERENCES warehouses (code),
    PRIMARY KEY (document_id, item, warehouse)
);
CREATE INDEX stock_count_freezes_key ON stock_count_freezes (item, warehouse);

-- Engineering data 工程数据: work centres and their calendar, bills of materials and routings
-- in versions, engineering change orders (their side table and the impact they found), and
-- standard cost roll-up runs with their results per item and per operation.
-- Portable subset as everywhere: BIGINT for integers, flags (0/1) and decimals scaled by
-- 10^6; TEXT for codes and ISO dates; ids made by the application.

CREATE TABLE work_centres (
    id BIGINT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    capacity_hours BIGINT NOT NULL,
    shifts BIGINT NOT NULL DEFAULT 1,
    efficiency_pct BIGINT NOT NULL DEFAULT 100000000,
    labour_rate BIGINT NOT NULL DEFAULT 0,
    machine_rate BIGINT NOT NULL DEFAULT 0,
    overhead_rate BIGINT NOT NULL DEFAULT 0,
    active BIGINT NOT NULL DEFAULT 1,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- A day off (hours 0) or a day of other hours, for one work centre or (work_centre NULL) for
-- the whole company.
CREATE TABLE work_centre_days (
    id BIGINT PRIMARY KEY,
    work_centre TEXT REFERENCES work_centres (code),
    day TEXT NOT NULL,
    hours BIGINT NOT NULL DEFAULT 0,
    description TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (work_centre, day)
);
CREATE INDEX work_centre_days_day ON work_centre_days (day);

-- Bills of materials: one header per version of an item's bill. `version` is the version's
-- name (01, 02, A-ACME); `lock_version` is the optimistic-locking counter.
CREATE TABLE boms (
    id BIGINT PRIMARY KEY,
    item TEXT NOT NULL REFERENCES items (code),
    version TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft',
    valid_from TEXT,
    valid_to TEXT,
    customer TEXT REFERENCES customers (code),
    note TEXT,
    lock_version BIGINT NOT NULL DEFAULT 1,
    created_by BIGINT REFERENCES users (id),
    approved_by BIGINT REFERENCES users (id),
    approved_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (item, version)
);
CREATE INDEX boms_status ON boms (status, item);

CREATE TABLE bom_lines (
    id BIGINT PRIMARY KEY,
    bom_id BIGINT NOT NULL REFERENCES boms (id),
    line_no BIGINT NOT NULL,
    component TEXT NOT NULL REFERENCES items (code),
    qty_per BIGINT NOT NULL,
    unit TEXT NOT NULL REFERENCES units (code),
    scrap_pct BIGINT NOT NULL DEFAULT 0,
    operation_seq BIGINT,
    issue_method TEXT NOT NULL DEFAULT 'picked',
    note TEXT,
    UNIQUE (bom_id, line_no)
);
CREATE INDEX bom_lines_component ON bom_lines (component);

-- Routings per item and version, with the lot their setup is spread over in standard cost.
CREATE TABLE routings (
    id BIGINT PRIMARY KEY,
    item TEXT NOT NULL REFERENCES items (code),
    version TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft',
    valid_from TEXT,
    valid_to TEXT,
    lot_size BIGINT NOT NULL DEFAULT 1000000,
    note TEXT,
    lock_version BIGINT NOT NULL DEFAULT 1,
    created_by BIGINT REFERENCES users (id),
    approved_by BIGINT REFERENCES users (id),
    approved_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (item, version)
);
CREATE INDEX routings_status ON routings (status, item);

CREATE TABLE routing_operations (
    id BIGINT PRIMARY KEY,
    routing_id BIGINT NOT NULL REFERENCES routings (id),
    seq BIGINT NOT NULL,
    work_centre TEXT NOT NULL REFERENCES work_centres (code),
    description TEXT,
    setup_hours BIGINT NOT NULL DEFAULT 0,
    run_hours BIGINT NOT NULL DEFAULT 0,
    queue_hours BIGINT NOT NULL DEFAULT 0,
    move_hours BIGINT NOT NULL DEFAULT 0,
    subcontracted BIGINT NOT NULL DEFAULT 0,
    supplier TEXT REFERENCES suppliers (code),
    subcontract_fee BIGINT,
    UNIQUE (routing_id, seq)
);
CREATE INDEX routing_operations_work_centre ON routing_operations (work_centre);

-- Engineering change orders 工程变更单 are documents (type engineering_change). What approving
-- one line switched: the version that took over and the versions it ended, with the valid_to
-- they had, so a reverse approval can put them back.
CREATE TABLE eco_changes (
    id BIGINT PRIMARY KEY,
    document_id BIGINT NOT NULL REFERENCES documents (id),
    line_id BIGINT NOT NULL REFERENCES document_lines (id),
    kind TEXT NOT NULL,
    item TEXT NOT NULL REFERENCES items (code),
    new_id BIGINT NOT NULL,
    new_valid_from TEXT,
    ended_id BIGINT,
    ended_valid_to TEXT,
    effective_date TEXT NOT NULL
);
CREATE INDEX eco_changes_document ON eco_changes (document_id);

-- The open documents an approved change touched, as found when it was approved: lines of
-- approved (not closed) orders with quantity still open for the changed item or for an item
-- using it at any level (changed_item says which change reached it); quantity is what was
-- still open.
CREATE TABLE eco_impacts (
    id BIGINT PRIMARY KEY,
    document_id BIGINT NOT NULL REFERENCES documents (id),
    changed_item TEXT NOT NULL,
    item TEXT NOT NULL,
    touched_id BIGINT NOT NULL REFERENCES documents (id),
    doc_type TEXT NOT NULL,
    number TEXT NOT NULL,
    line_no BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    due_date TEXT
);
CREATE INDEX eco_impacts_document ON eco_impacts (document_id);
CREATE INDEX document_lines_item ON document_lines (item);

-- Standard cost roll-up runs 成本卷算 and what each found, kept as history. One row per item
-- costed: its total per base unit (what sales and reports read) and its whole cost sheet as
-- JSON: the BOM and routing versions costed, the single-level elements, what the components
-- brought in per element (the breakdown by level) and the operations (the breakdown by
-- operation); the shape is documented in engineering.rs. One row of four values per item keeps
-- a run of 100,000 items to a few hundred thousand bound values.
CREATE TABLE cost_rollups (
    id BIGINT PRIMARY KEY,
    as_of TEXT NOT NULL,
    items BIGINT NOT NULL,
    operations BIGINT NOT NULL,
    run_by BIGINT REFERENCES users (id),
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    duration_ms BIGINT NOT NULL
);

-- run_id has no foreign key: rows are only ever written with their run, in its transaction,
-- and a check per row made up a large part of writing 100,000 of them.
CREATE TABLE cost_rollup_items (
    run_id BIGINT NOT NULL,
    item TEXT NOT NULL,
    total BIGINT NOT NULL,
    sheet_json TEXT NOT NULL,
    PRIMARY KEY (run_id, item)
);
CREATE INDEX cost_rollup_items_item ON cost_rollup_items (item, run_id);

-- Default bins: where an item is put away in a warehouse. The put-away suggestion on a
-- receipt line without a bin is this bin, else the bin already holding most of the item.

CREATE TABLE item_bins (
    item TEXT NOT NULL REFERENCES items (code),
    warehouse TEXT NOT NULL REFERENCES warehouses (code),
    bin TEXT NOT NULL REFERENCES bins (code),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (item, warehouse)
);

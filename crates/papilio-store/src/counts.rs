//! Inventory storage (counts).

//! Inventory storage (stock_analysis).

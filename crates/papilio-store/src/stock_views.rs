//! Inventory storage (stock_views).

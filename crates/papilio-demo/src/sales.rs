//! The demo company's sales: price lists, policies, credit limits, targets and a year of
//! quotations, orders, deliveries, invoices and receipts (filled in by the demo work).

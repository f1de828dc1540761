//! Sales reports: order execution tracking, receivables ageing, gross margin, targets and
//! attainment. Read-only; every figure comes from posted documents and the stock ledger.

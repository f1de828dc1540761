//! Sales reports: execution, ageing, margin, targets.

//! The engineering workload: explosion and cost roll-up of a generated structure (filled in
//! by the engineering work).

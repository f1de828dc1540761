//! Engineering data: BOMs, routings, ECOs, explosion, where-used and cost roll-up.

//! Engineering data 工程数据 in storage: BOMs, work centres, routings, ECOs, cost roll-up
//! (filled in by the engineering work).

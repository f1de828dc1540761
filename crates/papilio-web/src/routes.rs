//! The route table: every API route with the permission it needs.

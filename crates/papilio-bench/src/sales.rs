//! W1 order-to-cash over HTTP (filled in by the bench work).

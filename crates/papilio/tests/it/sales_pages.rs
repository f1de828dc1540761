//! Sales pages: price simulation, credit, settings, document views and prints.

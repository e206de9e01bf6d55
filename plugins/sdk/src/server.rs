//! Serving a [`crate::Plugin`] over unix sockets, TCP, TLS or any listener.
//! (Being written: see ARCHITECTURE.md.)

//! Placeholder: outgoing head writer (being written).

//! Placeholder: strict request/response head parsing (being written).

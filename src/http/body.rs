//! Placeholder: body framing (being written).

//! Placeholder; the config parser lands here.

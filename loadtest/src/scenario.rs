//! placeholder
pub struct Scenario { pub name: &'static str, pub about: &'static str }
pub fn all() -> Vec<Scenario> { vec![] }

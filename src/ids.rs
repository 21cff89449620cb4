//! The names the model gives its parts (indexes into its tables) and where a configuration
//! item came from. A leaf: rule types and queues below the model name backends and servers.

/// Index of a backend in `Model::backends`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BackendId(pub u32);

/// Index of a frontend in `Model::frontends`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrontendId(pub u32);

/// Index of a server inside its backend's `Backend::servers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServerId(pub u32);

macro_rules! from_index {
    ($($id:ident),*) => {$(
        impl $id {
            /// The id of the entry at index `i` of its table. Past `u32::MAX` (no model has
            /// that many entries) it saturates to an id no table holds, so a lookup finds
            /// nothing rather than wrapping onto another entry.
            #[inline]
            pub(crate) fn from_index(i: usize) -> $id {
                $id(u32::try_from(i).unwrap_or(u32::MAX))
            }
        }
    )*};
}

from_index!(BackendId, FrontendId, ServerId);

/// Where a configuration item came from, for messages printed at run time.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Origin {
    pub(crate) file: String,
    pub(crate) line: u32,
}

//! A field of a PATCH body: absent (leave as is), `null` (clear) or a value.

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Patch<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }

    /// Applies the patch to an optional field; true when it changed.
    pub fn apply_to(self, field: &mut Option<T>) -> bool
    where
        T: PartialEq,
    {
        let next = match self {
            Patch::Absent => return false,
            Patch::Null => None,
            Patch::Value(value) => Some(value),
        };
        let changed = *field != next;
        *field = next;
        changed
    }

    pub fn as_value(&self) -> Option<&T> {
        match self {
            Patch::Value(value) => Some(value),
            _ => None,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(deserializer).map(|value| match value {
            Some(value) => Patch::Value(value),
            None => Patch::Null,
        })
    }
}

/// Applies a patch to a required field: `null` is refused by validation before this runs.
pub fn apply_required<T: PartialEq>(patch: Patch<T>, field: &mut T) -> bool {
    match patch {
        Patch::Value(value) if *field != value => {
            *field = value;
            true
        }
        _ => false,
    }
}

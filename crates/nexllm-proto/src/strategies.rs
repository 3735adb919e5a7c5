//! proptest strategies (feature `proptest`).

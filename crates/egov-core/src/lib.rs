//! Pure shared types for every egov crate: ids, VND money, Vietnamese text
//! folding, personal id numbers, the lunar calendar, the working-day
//! calendar and the clock.
//!
//! This crate must stay pure: no files, no network, no database, no web
//! framework, and no reads of the real clock except through
//! [`clock::SystemClock`]. Everything here can therefore be tested without
//! setting anything up, and every other crate can depend on it.

pub mod calendar;
pub mod clock;
pub mod department;
pub mod lunar;
pub mod money;
pub mod personal_id;
pub mod text;

pub mod id {
    //! Identifier generation for every row the system creates.
    //!
    //! It owns the choice of UUID version and nothing else; typed id
    //! newtypes live next to the resources they identify.

    /// Returns a fresh version 7 UUID.
    ///
    /// Version 7 ids start with a millisecond timestamp, so consecutive
    /// inserts land next to each other in a B-tree index instead of
    /// scattering across it the way random version 4 ids do. The timestamp
    /// comes from the system clock inside `uuid`; that is acceptable here
    /// because callers rely only on uniqueness and rough ordering, never on
    /// the embedded time, so tests do not need a [`crate::clock::Clock`].
    pub fn new_id() -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }

    #[cfg(test)]
    mod tests {
        use super::new_id;

        #[test]
        fn new_ids_are_version_seven_and_distinct() {
            let first = new_id();
            let second = new_id();
            assert_eq!(first.get_version_num(), 7);
            assert_ne!(first, second);
        }

        #[test]
        fn ids_created_later_sort_after_earlier_ones() {
            // UUIDv7 keeps a per-process counter inside one millisecond, so
            // even ids made in a tight loop come out in increasing order.
            let ids: Vec<_> = (0..100).map(|_| new_id()).collect();
            assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
        }
    }
}

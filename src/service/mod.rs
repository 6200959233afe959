//! Listeners and the set of running services.

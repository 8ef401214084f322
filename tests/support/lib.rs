//! The root package exists to hold the end-to-end tests in `tests/` and the example runner;
//! their shared support is the test kit, `wtool-testkit` (`testkit/`). Cargo needs a library or
//! binary target in a package, and this empty library is it.

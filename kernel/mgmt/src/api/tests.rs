//! Host tests of the /v1 handlers against a fake backend.

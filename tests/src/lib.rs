//! Test support for the Caduceus end-to-end suite: [`app::TestApp`] runs the real server
//! in-process on port 0 with a temp home and database; [`binary`] runs the real `caduceus`
//! executable; [`fake_upstream::FakeUpstream`] is the scripted upstream LLM.

// Test support: a panic is how a helper reports a broken test environment.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod app;
pub mod bench;
pub mod binary;
pub mod fake_upstream;

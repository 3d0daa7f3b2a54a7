//! Test support for the Caduceus end-to-end suite: [`app::TestApp`] runs the real server
//! in-process on port 0 with a temp home and database; [`binary`] runs the real `caduceus`
//! executable; the fake upstream LLM scripts model replies.

pub mod app;
pub mod binary;

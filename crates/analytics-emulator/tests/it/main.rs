//! Integration tests of the emulator: data laws, finality, segmentation, fixtures, active
//! entities and the Backend implementation.

mod active;
mod backend;
mod common;
mod finality;
mod fixtures;
mod jobs;
mod laws;
mod segmentation;

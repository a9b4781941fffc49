//! The emulator behind the real server (being written).

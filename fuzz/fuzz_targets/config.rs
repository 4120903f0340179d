//! The daemon's configuration parser on arbitrary text: a configuration or
//! an error naming the file — never a panic.
#![no_main]

use std::path::Path;

use confkeep::effects::config::DaemonConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = DaemonConfig::parse(Path::new("fuzz-confkeep.toml"), text) {
        assert!(e.to_string().contains("fuzz-confkeep.toml"), "{e}");
    }
});

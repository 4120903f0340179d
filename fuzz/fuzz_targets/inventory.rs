//! The TOML inventory parser on arbitrary text: a device list or an error
//! naming the file (and, where there is one, the line) — never a panic.
#![no_main]

use std::path::Path;

use confkeep::effects::inventory::Inventory;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Inventory::parse(Path::new("fuzz-inventory.toml"), text) {
        Ok(inventory) => {
            for device in inventory.devices.values() {
                assert!(!device.id.as_str().is_empty());
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz-inventory.toml"), "{e}"),
    }
});

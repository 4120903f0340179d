//! What an API client sends: the trigger body, the host-key body and the
//! history query. A checked value or an error naming a field — never a panic.
#![no_main]

use confkeep::api::requests;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match requests::trigger(data) {
        Ok(t) => assert!(!t.device.as_str().is_empty()),
        Err(e) => assert!(!e.field.is_empty()),
    }
    if let Ok(fp) = requests::host_key_accept(data) {
        assert!(requests::check_fingerprint(&fp).is_ok());
    }
    if let Ok(query) = std::str::from_utf8(data) {
        if let Ok(page) = requests::history_page(Some(query)) {
            assert!(page.limit >= 1 && page.limit <= requests::MAX_PAGE);
        }
    }
});

//! `Envelope` decoding of arbitrary stored bytes: never a panic, and what
//! decodes encodes back to bytes that decode to the same envelope (the
//! fast codec and the domain's decoder agree).
#![no_main]

use confkeep::domain::Envelope;
use confkeep::store::codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fast = codec::decode(data);
    let slow = Envelope::decode(data);
    assert_eq!(fast.is_ok(), slow.is_ok(), "the two decoders disagree");
    if let (Ok(fast), Ok(slow)) = (fast, slow) {
        assert_eq!(fast, slow);
        let bytes = codec::encode(&fast).expect("a decoded envelope encodes");
        let again = codec::decode(&bytes).expect("encoded bytes decode");
        assert_eq!(again, fast, "decode(encode(e)) != e");
        assert_eq!(bytes, fast.encode().expect("encodes"), "two encoders differ");
    }
});

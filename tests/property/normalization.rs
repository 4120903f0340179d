//! Properties of RouterOS export normalization.

use confkeep::domain::normalize::{normalize, normalized_hash, parse_header_line};
use proptest::prelude::*;

use crate::strategies::{export_body, header};

const IDENTITY: &str =
    "# software id = ABCD-1234\n# model = RB5009UG+S+\n# serial number = HEX0123456\n";

proptest! {
    #![proptest_config(crate::config())]

    /// Normalizing normalized text changes nothing, and the result ends in
    /// exactly one newline, has no CR, no trailing blanks and no blank runs.
    #[test]
    fn normalization_is_idempotent(body in export_body(), head in header("7.15.3")) {
        for text in [body.clone(), format!("{head}\n{IDENTITY}{body}")] {
            let once = normalize(&text);
            prop_assert_eq!(&normalize(&once), &once);
            prop_assert!(once.ends_with('\n') && !once.ends_with("\n\n"));
            prop_assert!(!once.contains('\r') || text.replace("\r\n", "\n").contains('\r'));
            prop_assert!(!once.contains("\n\n\n"));
            prop_assert!(once.lines().all(|l| l == l.trim_end()));
        }
    }

    /// Two exports that differ only in their header time (in any of the
    /// three forms) hash the same; the identity comments are kept.
    #[test]
    fn header_only_differences_hash_the_same(
        body in export_body(),
        a in header("7.15.3"),
        b in header("7.15.3"),
        crlf in any::<bool>(),
    ) {
        prop_assert!(parse_header_line(&a).is_some(), "{}", a);
        let nl = if crlf { "\r\n" } else { "\n" };
        let identity = IDENTITY.replace('\n', nl);
        let (na, ha) = normalized_hash(&format!("{a}{nl}{identity}{body}"));
        let (nb, hb) = normalized_hash(&format!("{b}{nl}{identity}{body}"));
        prop_assert_eq!(ha, hb);
        prop_assert_eq!(&na, &nb);
        prop_assert!(na.starts_with(IDENTITY), "{:?}", na);
    }

    /// Line endings never change the hash.
    #[test]
    fn crlf_and_lf_hash_the_same(body in export_body()) {
        let lf = body.replace("\r\n", "\n");
        let crlf = lf.replace('\n', "\r\n");
        prop_assert_eq!(normalized_hash(&lf).1, normalized_hash(&crlf).1);
    }
}

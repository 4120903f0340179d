//! Deterministic fleet simulations in virtual time.

//! Compile-time behaviour of `#[synchronized]`: what expands and runs, and what is refused
//! with which message. Regenerate the `.stderr` files with `TRYBUILD=overwrite` and
//! review them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}

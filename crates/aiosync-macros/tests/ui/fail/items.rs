// What is not a function with a body, or has arguments the attribute does not take.
use aiosync::synchronized;

#[synchronized]
struct NotAFunction;

#[synchronized]
const fn constant() {}

trait T {
    #[synchronized]
    fn no_body(&self);
}

#[synchronized(1 + 1)]
fn bad_argument() {}

fn main() {}

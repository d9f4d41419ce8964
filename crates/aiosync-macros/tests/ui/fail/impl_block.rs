// On an `impl` block: the fns a lock cannot help are refused as they would be one by one
// (every one of them reported), and the attribute takes no argument.
use aiosync::synchronized;

struct S(u32);

#[synchronized]
impl S {
    fn shared(&self) {}

    fn exclusive(&mut self) {}

    fn owned(self) {}

    const fn constant() {}

    #[synchronized(Self)]
    fn own_attribute(&mut self) {} // fine: keeps its own
}

struct T;

#[synchronized(Self)]
impl T {
    fn f() {}
}

fn main() {}

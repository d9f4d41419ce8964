// Receivers a lock cannot help: the call already has the object to itself.
use aiosync::synchronized;

struct S(u32);

impl S {
    #[synchronized]
    fn exclusive(&mut self) {}

    #[synchronized]
    async fn exclusive_async(self: &mut Self) {}

    #[synchronized]
    fn owned(self) {}

    #[synchronized]
    fn boxed(self: Box<Self>) {}
}

fn main() {}

// `#[synchronized]` on an `impl` block: every fn of the block expands, type-checks and
// runs; a fn with its own attribute keeps it.
use aiosync::synchronized;
use std::pin::Pin;
use std::sync::Arc;

struct S<'a>(&'a str);

#[synchronized]
impl<'a> S<'a> {
    const NAME: &'static str = "S"; // not a fn: left alone

    fn new(s: &'a str) -> Self {
        S(s) // per type
    }

    async fn new_async(s: &'a str) -> Self {
        S(s)
    }

    fn shared(&self) -> &'a str {
        self.0 // per object
    }

    fn arc(self: Arc<Self>) -> Arc<Self> {
        self
    }

    fn pinned(self: Pin<&Self>) {}

    async fn shared_async(&self) -> usize {
        self.0.len()
    }

    #[synchronized(Self)]
    fn own_attribute(&mut self) {} // `&mut self` is fine with a lock of its own

    #[aiosync::synchronized]
    fn own_per_function() -> u32 {
        1
    }

    fn calls_others(&self) -> usize {
        Self::new(self.0).shared().len() // reentrant: same thread
    }
}

trait Make: Sized {
    fn make() -> Self;
    fn describe(&self) -> String;
}

#[synchronized]
impl Make for S<'static> {
    fn make() -> Self {
        S("made")
    }

    fn describe(&self) -> String {
        format!("{} {}", S::NAME, self.0)
    }
}

struct G<T>(T);

#[synchronized]
impl<T: Clone + Send> G<T> {
    fn get(&self) -> T {
        self.0.clone()
    }

    fn wrap(t: T) -> Self {
        G(t)
    }
}

fn main() {
    let mut s = S::new("hi");
    assert_eq!(s.shared(), "hi");
    assert_eq!(futures_lite::future::block_on(S::new_async("a")).0, "a");
    assert_eq!(Arc::new(S("b")).arc().0, "b");
    Pin::new(&s).pinned();
    assert_eq!(futures_lite::future::block_on(s.shared_async()), 2);
    s.own_attribute();
    assert_eq!(S::own_per_function(), 1);
    assert_eq!(s.calls_others(), 2);
    assert_eq!(S::make().describe(), "S made");
    assert_eq!(G::wrap(3).get(), 3);
}

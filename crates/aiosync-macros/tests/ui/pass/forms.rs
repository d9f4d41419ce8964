// Every accepted form expands, type-checks and runs.
use aiosync::synchronized;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

#[synchronized]
fn free(x: u32) -> u32 {
    x + 1
}

#[synchronized]
async fn free_async(x: u32) -> u32 {
    x + 1
}

#[synchronized]
fn generic<T: Default>() -> Vec<T> {
    (0..2).map(|_| T::default()).collect() // return type inferred from the signature
}

struct S<'a>(&'a str);

impl<'a> S<'a> {
    #[synchronized]
    fn shared(&self) -> &'a str {
        self.0
    }

    #[synchronized]
    fn typed(self: &Self) -> usize {
        self.0.len()
    }

    #[synchronized]
    fn arc(self: Arc<Self>) -> Arc<Self> {
        self // the body may move the receiver
    }

    #[synchronized]
    fn rc(self: Rc<Self>) {}

    #[synchronized]
    fn pinned(self: Pin<&Self>) {}

    #[synchronized]
    async fn shared_async(&self) -> usize {
        self.0.len()
    }

    #[synchronized]
    fn per_function() {}

    #[synchronized(Self)]
    fn per_type() {}

    #[synchronized(Self)]
    fn per_type_mut(&mut self) {}

    #[synchronized(Self)]
    async fn per_type_async(self) {}

    #[synchronized]
    fn early_return(&self, x: Option<u32>) -> Option<u32> {
        let x = x?;
        if x > 1 {
            return Some(x);
        }
        None
    }
}

trait Named {
    fn name(&self) -> String;

    #[synchronized]
    fn shout(&self) -> String {
        self.name().to_uppercase() // a default body: `Self` is the implementor
    }
}

impl Named for S<'_> {
    #[synchronized]
    fn name(&self) -> String {
        self.0.to_string()
    }
}

fn main() {
    assert_eq!(free(1), 2);
    assert_eq!(futures_lite::future::block_on(free_async(1)), 2);
    assert_eq!(generic::<u8>(), vec![0, 0]);
    let s = S("hi");
    assert_eq!(s.shared(), "hi");
    assert_eq!(s.typed(), 2);
    assert_eq!(Arc::new(S("a")).arc().0, "a");
    Rc::new(S("b")).rc();
    Pin::new(&s).pinned();
    assert_eq!(futures_lite::future::block_on(s.shared_async()), 2);
    S::per_function();
    S::per_type();
    S("c").per_type_mut();
    futures_lite::future::block_on(S("d").per_type_async());
    assert_eq!(s.early_return(Some(2)), Some(2));
    assert_eq!(s.shout(), "HI");
}

// The forms the attribute generates, used from a plain `main`.
use aiosync::facade::{CallError, Runtime, Stream};

#[derive(Clone, Default)]
pub struct Store {
    items: Vec<String>,
}

#[derive(Debug)]
pub enum StoreError {
    Facade(CallError),
    Empty,
}

impl From<CallError> for StoreError {
    fn from(e: CallError) -> Self {
        StoreError::Facade(e)
    }
}

pub fn my_runtime() -> Runtime {
    Runtime::shared()
}

#[aiosync::blocking(name = SyncStore, runtime = my_runtime, vis = pub(crate))]
impl Store {
    pub async fn open() -> Self {
        Store::default()
    }

    pub async fn open_checked(first: &str) -> Result<Self, StoreError> {
        Ok(Store { items: vec![first.to_owned()] })
    }

    pub async fn push(&mut self, (a, b): (&str, &str)) {
        self.items.push(format!("{a}{b}"));
    }

    #[blocking(future)]
    pub async fn len(&self) -> usize {
        self.items.len()
    }

    pub async fn first(&self) -> Result<&str, StoreError> {
        self.items.first().map(String::as_str).ok_or(StoreError::Empty)
    }

    #[blocking(iter)]
    pub async fn all(&self) -> impl Stream<Item = &str> + Send + '_ {
        futures_lite::stream::iter(self.items.iter().map(String::as_str))
    }

    #[blocking(skip)]
    pub async fn skipped(&self) {}

    pub async fn version() -> u32 {
        1
    }
}

fn main() {
    let mut s = SyncStore::open().unwrap();
    assert!(matches!(s.first(), Err(StoreError::Empty)));
    s.push(("a", "b")).unwrap();
    assert_eq!(s.first().unwrap(), "ab");
    assert_eq!(s.len().unwrap(), 1);
    assert_eq!(s.len_future().join().unwrap(), 1);
    assert_eq!(s.all().unwrap().collect::<Vec<_>>(), ["ab"]);
    assert_eq!(SyncStore::version().unwrap(), 1);
    let rt = Runtime::new().unwrap();
    let t = SyncStore::open_checked_on(&rt, "x").unwrap();
    assert!(t.runtime().same_as(&rt));
    assert_eq!(t.get_ref().items, ["x"]);
    let _: Store = t.into_inner();
    let _ = SyncStore::new(Store::default()).get_mut();
    let _ = SyncStore::with_runtime(Store::default(), rt);
}

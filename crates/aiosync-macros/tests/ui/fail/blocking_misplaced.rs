// Only an inherent, non-generic `impl` block of async fns, and known options.
pub struct A;
pub trait Tr {
    fn f(&self);
}

#[aiosync::blocking]
impl Tr for A {
    fn f(&self) {}
}

pub struct B<T>(T);

#[aiosync::blocking]
impl<T> B<T> {
    pub async fn get(&self) {}
}

pub struct C;

#[aiosync::blocking(flavor = fast)]
impl C {
    pub async fn get(&self) {}
}

pub struct D;

#[aiosync::blocking]
impl D {
    #[blocking(stream)]
    pub async fn get(&self) {}

    #[blocking(iter)]
    pub fn not_async(&self) {}
}

#[aiosync::blocking]
fn free() {}

fn main() {}

// `#[aiosync::unblock]` runs each fn on a pool thread: owned arguments, no `self` by value,
// and `#[unblock(iter)]` needs an `impl Iterator<Item = …>` output.
pub struct Files;

#[aiosync::unblock]
impl Files {
    pub fn read(&self, path: &str) -> usize {
        path.len()
    }

    pub fn close(self) {}

    #[unblock(iter)]
    pub fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

fn main() {}

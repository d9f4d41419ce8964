// A `#[blocking(future)]` method spawns a task: its arguments must be owned.
#[derive(Clone)]
pub struct Client;

#[aiosync::blocking]
impl Client {
    #[blocking(future)]
    pub async fn get(&self, path: &str) -> usize {
        path.len()
    }
}

fn main() {}

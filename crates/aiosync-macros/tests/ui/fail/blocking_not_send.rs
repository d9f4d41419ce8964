// A future that is not `Send` cannot be forwarded to the runtime thread: refused, with
// the method named.
use std::rc::Rc;

pub struct Cache {
    hits: Rc<u32>,
}

#[aiosync::blocking]
impl Cache {
    pub async fn hits(&self) -> u32 {
        let local = self.hits.clone();
        tokio::task::yield_now().await;
        *local
    }
}

fn main() {}

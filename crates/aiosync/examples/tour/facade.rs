//! Scene 10 of the tour (feature `facade`): one async implementation, a blocking API
//! generated from it by `#[aiosync::blocking]`.

use aiosync::facade::{CallError, Stream};
use std::time::{Duration, Instant};

/// An async client, written once (here it only sleeps, as a network round trip would).
pub struct Weather {
    city: String,
}

#[aiosync::blocking]
impl Weather {
    pub async fn connect(city: &str) -> std::io::Result<Self> {
        Ok(Weather {
            city: city.to_owned(),
        })
    }

    pub async fn temperature(&self, hour: u32) -> std::io::Result<f32> {
        tokio::time::sleep(Duration::from_millis(50)).await; // a tokio timer
        Ok(12.0 + hour as f32 / 2.0)
    }

    #[blocking(iter)]
    pub async fn forecast(&self, hours: u32) -> impl Stream<Item = String> + Send + '_ {
        futures_lite::stream::iter((0..hours).map(move |h| format!("{} +{h}h", self.city)))
    }

    pub async fn fail(&self) -> u32 {
        panic!("the service broke")
    }
}

pub fn blocking_facade() {
    println!("10. #[aiosync::blocking]: a blocking API from one async implementation");
    // Plain `main`, no runtime in sight: the facade's runtime thread drives the timers.
    let w = BlockingWeather::connect("Lyon").expect("connect");
    println!(
        "   temperature(8) from plain main: {:?}",
        w.temperature(8).expect("call")
    );

    // Four threads at once: each call is polled on its own thread, so they overlap.
    let t = Instant::now();
    std::thread::scope(|s| {
        for hour in 0..4 {
            let w = &w;
            s.spawn(move || w.temperature(hour).expect("call"));
        }
    });
    println!(
        "   4 threads x one 50 ms call each: {:?} in all (in parallel, not 200 ms)",
        t.elapsed()
    );

    // A stream becomes an iterator; dropping it early drops the stream.
    let first: Vec<String> = w.forecast(24).expect("call").take(2).collect();
    println!("   forecast as an iterator, first two: {first:?}");

    // Misuse is an error, not a hang: a blocking call nested in one the facade drives.
    let nested = w
        .runtime()
        .block_on(async { w.temperature(1) })
        .expect("outer call");
    let kind = nested.map_err(|e| {
        e.get_ref()
            .and_then(|e| e.downcast_ref::<CallError>())
            .copied()
    });
    println!("   a blocking call nested inside the facade: {kind:?}");
    assert_eq!(kind, Err(Some(CallError::InRuntime)));

    // A panic reaches the caller with its message; the facade keeps working.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.fail())).unwrap_err();
    std::panic::set_hook(hook);
    println!(
        "   a panic in the async body: caught by the caller with {:?}; next call: {:?}",
        payload.downcast_ref::<&str>().expect("a &str payload"),
        w.temperature(0).expect("call")
    );

    // Inside someone else's runtime (as under #[tokio::main]): forwarded, still fine.
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let inside = rt.block_on(async { w.temperature(2).expect("call") });
    println!("   the same call inside a tokio runtime: {inside:?}");
}

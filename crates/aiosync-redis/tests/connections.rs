//! The client's own connections (`client/wire.rs`) against a real redis-server: a
//! password, an ACL user, a database index and a Unix socket, as the URL says them.

mod common;

use aiosync_redis::Client;
use common::Server;
use std::time::Duration;

const LEASE: Duration = Duration::from_millis(600);

/// Takes and releases a lock, and reads back through the server where its key is.
fn lock_works(client: &Client) {
    let hold = client.lock("c").lock_blocking().expect("lock");
    assert!(hold.token() > 0);
    assert!(client.lock("c").try_lock().expect("try_lock").is_none());
    hold.release().expect("release");
    assert!(client.lock("c").try_lock().expect("try_lock").is_some());
}

#[test]
fn password_and_database_index() {
    let s = Server::start_args(&["--requirepass", "s3cret"], |port, _| {
        format!("redis://:s3cret@127.0.0.1:{port}/")
    });
    let url = format!("redis://:s3cret@127.0.0.1:{}/3", s.port);
    let client = Client::open(&url, "t", LEASE).expect("connect with the password");
    lock_works(&client);
    // The fencing counter lives in database 3, not 0.
    let fence_in = |db: u8| -> Option<String> {
        let url = format!("redis://:s3cret@127.0.0.1:{}/{db}", s.port);
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        redis::cmd("GET")
            .arg("t:lock:{c}:fence")
            .query(&mut c)
            .unwrap()
    };
    assert!(fence_in(3).is_some(), "no fence key in database 3");
    assert_eq!(fence_in(0), None, "the key went to database 0");
}

#[test]
fn a_wrong_password_is_an_error_at_open() {
    let s = Server::start_args(&["--requirepass", "s3cret"], |port, _| {
        format!("redis://:s3cret@127.0.0.1:{port}/")
    });
    let url = format!("redis://:wrong@127.0.0.1:{}/", s.port);
    let t = std::time::Instant::now();
    let e = Client::open(&url, "t", LEASE).expect_err("a wrong password must not connect");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        format!("{e}").to_lowercase().contains("pass") || format!("{e:?}").contains("Auth"),
        "{e:?}"
    );
}

#[test]
fn acl_user() {
    let s = Server::start_args(
        &["--user", "app", "on", ">pw", "~*", "&*", "+@all"],
        |port, _| format!("redis://app:pw@127.0.0.1:{port}/"),
    );
    let client = Client::open(&format!("redis://app:pw@127.0.0.1:{}/", s.port), "t", LEASE)
        .expect("connect as an ACL user");
    lock_works(&client);
}

#[test]
fn unix_socket() {
    let s = Server::start_args(&["--unixsocket", "{dir}/redis.sock"], |_, dir| {
        format!("unix://{}/redis.sock", dir.display())
    });
    let url = format!("unix://{}/redis.sock", s.dir.display());
    let client = Client::open(&url, "t", LEASE).expect("connect over the Unix socket");
    lock_works(&client);
}

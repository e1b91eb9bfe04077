//! Memory exhaustion, performed against the real binary so its peak RSS (`VmHWM`) is its own:
//! items with 9 MB metadata objects, four `GET ?limit=1000` over them in parallel, a 9 MB
//! metadata object posted through the API, and uploads of almost 10 MB that stall, some with
//! a length and some chunked. The peak is printed (`--nocapture`) and must stay bounded.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;

use crate::helpers::{cluster, create_database, free_port};

const BIG_ITEMS: i64 = 16;
const MIB: u64 = 1024 * 1024;

/// Peak resident memory of a process, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// A stalled upload: headers for `declared` bytes (chunked when `None`), then `sent` bytes,
/// then nothing for `hold`. Write errors are expected once the API refuses and closes.
async fn stalled_upload(address: String, declared: Option<usize>, sent: usize, hold: Duration) {
    let Ok(mut s) = tokio::net::TcpStream::connect(&address).await else {
        return;
    };
    let length = match declared {
        Some(n) => format!("Content-Length: {n}"),
        None => "Transfer-Encoding: chunked".to_string(),
    };
    let head = format!(
        "POST /api/items HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n{length}\r\n\r\n"
    );
    let _ = s.write_all(head.as_bytes()).await;
    let body = vec![b' '; sent];
    let _ = match declared {
        Some(_) => s.write_all(&body).await,
        None => {
            let chunk = format!("{sent:x}\r\n");
            let _ = s.write_all(chunk.as_bytes()).await;
            s.write_all(&body).await
        }
    };
    tokio::time::sleep(hold).await;
}

/// What each of the four parallel lists answered: status, bytes, `count` and `total`.
type ListAnswer = (u16, usize, Option<i64>, Option<i64>);

#[tokio::test]
async fn huge_items_parallel_lists_and_stalled_uploads_stay_within_bounded_memory() {
    let name = create_database(true).await;
    insert_big_items(&name).await;
    let (mut child, address) = start_api(&name).await;
    let http = reqwest::Client::new();
    let pid = child.id();
    let at_start = peak_rss(pid);

    let post = post_huge_metadata(&http, &address).await;
    let lists = list_in_parallel_during_stalled_uploads(&http, &address).await;
    let peak = peak_rss(pid);
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    eprintln!(
        "workspace-api peak RSS {} MiB (after start {} MiB); POST with 9 MB metadata: {post}; \
         lists (status, bytes, count, total): {lists:?}",
        peak / MIB,
        at_start / MIB
    );
    assert_eq!(post, 413, "a 9 MB body is refused before it is read");
    for (status, bytes, count, total) in &lists {
        assert_eq!(*status, 200);
        assert_eq!(*total, Some(BIG_ITEMS));
        // The byte budget ends the page early, after at least one item.
        assert!(
            count.is_some_and(|c| (1..BIG_ITEMS).contains(&c)),
            "{count:?}"
        );
        assert!((*bytes as u64) < 32 * MIB, "{bytes}");
    }
    // Before these limits: 1,416 MiB (each list answered 163 MB). Now ~225 MiB: per list, the
    // first row, the one that ended the page, the driver's read buffer and the JSON.
    assert!(peak < 320 * MIB, "peak RSS {} MiB", peak / MIB);
}

/// Items as large as the attack's (9.6 MB of metadata each), written straight into the
/// table as an import of older data may do: the API itself no longer accepts them.
async fn insert_big_items(name: &str) {
    let db = workspace_stack::db::connect(&cluster().config(name))
        .await
        .unwrap();
    db.batch_execute(&format!(
        "INSERT INTO workspace.workspace_items (title, description, category, priority, status, metadata)
         SELECT 'big ' || g, 'd', 'documentacao', 'low', 'new',
                (SELECT jsonb_object_agg('key' || i, repeat('v', 80)) FROM generate_series(1, 100000) i)
           FROM generate_series(1, {BIG_ITEMS}) g"
    ))
    .await
    .unwrap();
}

/// The real binary on a free port, once `/healthz` answers; returns it and its address.
async fn start_api(name: &str) -> (std::process::Child, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_workspace-api"))
        .args(["serve", "--port", &port.to_string()])
        .env("DATABASE_URL", cluster().url(name))
        .env("RATE_LIMIT_MAX", "0")
        .env("BODY_READ_TIMEOUT_MS", "2000")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let address = format!("127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if http
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the API did not start");
    (child, address)
}

/// A 9 MB metadata object through the API; the status it got (0 when the request failed).
async fn post_huge_metadata(http: &reqwest::Client, address: &str) -> u16 {
    let metadata: Map<String, Value> = (0..90_000)
        .map(|i| (format!("key{i}"), Value::String("v".repeat(90))))
        .collect();
    let body = serde_json::json!({
        "title": "t", "description": "d", "category": "documentacao", "priority": "low",
        "metadata": metadata,
    });
    http.post(format!("http://{address}/api/items"))
        .json(&body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Stalled uploads of almost 10 MB (eight with a length, eight chunked), held while four
/// clients list everything in parallel.
async fn list_in_parallel_during_stalled_uploads(
    http: &reqwest::Client,
    address: &str,
) -> Vec<ListAnswer> {
    let hold = Duration::from_secs(4);
    let mut stalls = Vec::new();
    for i in 0..16 {
        let declared = (i % 2 == 0).then_some(9_900_000);
        stalls.push(tokio::spawn(stalled_upload(
            address.to_string(),
            declared,
            9_500_000,
            hold,
        )));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lists = (0..4).map(|_| {
        let (http, address) = (http.clone(), address.to_string());
        async move {
            let r = http
                .get(format!("http://{address}/api/items?limit=1000"))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            (
                status,
                text.len(),
                json["count"].as_i64(),
                json["total"].as_i64(),
            )
        }
    });
    let lists = futures_util::future::join_all(lists).await;
    for s in stalls {
        s.await.unwrap();
    }
    lists
}

#[tokio::test]
async fn metadata_and_tags_are_capped_with_validation_errors() {
    let app = crate::helpers::spawn_app().await;
    let item = |tags: usize, metadata_bytes: usize| {
        let mut body = crate::helpers::valid_item();
        body["tags"] = (0..tags).map(|i| format!("t{i}")).collect();
        // {"k":"vvv…"} is 8 bytes of JSON around the value.
        body["metadata"] = serde_json::json!({"k": "v".repeat(metadata_bytes - 8)});
        body
    };
    let r = app.post("/api/items", &item(100, 32 * 1024)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    for (body, field) in [
        (item(101, 100), "tags"),
        (item(1, 32 * 1024 + 1), "metadata"),
    ] {
        let r = app.post("/api/items", &body).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.json["errors"][0]["field"], field);
        assert_eq!(r.json["errors"][0]["code"], "too_big");
        let r = app
            .put("/api/items/1", &serde_json::json!({field: body[field]}))
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
    assert_eq!(app.count_items().await, 1);
}

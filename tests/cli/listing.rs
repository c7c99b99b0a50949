//! Listing movies and ratings a page at a time (issue 29): over gRPC, HTTP and the CLI, with
//! AIP-158 paging (default and maximum sizes, opaque tokens tied to their filters).

use movieapp::pb::{
    ListMetadataRequest, ListRatingsRequest, metadata_service_client::MetadataServiceClient,
    rating_service_client::RatingServiceClient,
};
use tonic::Code;

use crate::support::{Server, http_get, movieapp};

/// Seven movies (four titled "The …") and five ratings of movie m1, through the CLI.
fn seed(data: &str) {
    for n in 0..7 {
        let title = if n % 2 == 0 {
            format!("The {n}")
        } else {
            format!("Other {n}")
        };
        let id = format!("m{n}");
        movieapp(&["--data-dir", data, "movie", "put", &id, "--title", &title]).ok();
    }
    for (user, value) in [
        ("ann", "5"),
        ("bob", "4"),
        ("cy", "3"),
        ("di", "2"),
        ("ed", "1"),
    ] {
        movieapp(&[
            "--data-dir",
            data,
            "rate",
            "put",
            "m1",
            value,
            "--user",
            user,
        ])
        .ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movies_and_ratings_are_listed_a_page_at_a_time_on_grpc_http_and_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let server = Server::start_async(dir.path()).await;
    let seeded = data.clone();
    tokio::task::spawn_blocking(move || seed(&seeded))
        .await
        .unwrap();

    // gRPC: pages of 3, by id, to the end.
    let mut metadata = MetadataServiceClient::new(server.channel("metadata").await);
    let mut ids = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = metadata
            .list_metadata(ListMetadataRequest {
                page_size: 3,
                page_token: token.clone(),
                title_prefix: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        ids.extend(page.metadata.into_iter().map(|m| m.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(ids, ["m0", "m1", "m2", "m3", "m4", "m5", "m6"]);
    assert_eq!(pages, 3);
    // A title prefix; a token for other filters, edited, or a negative size is refused.
    let first = metadata
        .list_metadata(ListMetadataRequest {
            page_size: 2,
            page_token: String::new(),
            title_prefix: "The".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let titles: Vec<_> = first.metadata.iter().map(|m| m.title.as_str()).collect();
    assert_eq!(titles, ["The 0", "The 2"]);
    let refused = |page_size, page_token: &str, title_prefix: &str| {
        let mut metadata = metadata.clone();
        let request = ListMetadataRequest {
            page_size,
            page_token: page_token.to_owned(),
            title_prefix: title_prefix.to_owned(),
        };
        async move { metadata.list_metadata(request).await.unwrap_err() }
    };
    let other_filter = refused(2, &first.next_page_token, "Other").await;
    assert_eq!(
        other_filter.code(),
        Code::InvalidArgument,
        "{other_filter:?}"
    );
    assert!(
        other_filter.message().contains("page_token"),
        "{other_filter:?}"
    );
    let mut edited = first.next_page_token.clone();
    edited.insert(3, 'x');
    assert_eq!(
        refused(2, &edited, "The").await.code(),
        Code::InvalidArgument
    );
    assert_eq!(refused(-1, "", "").await.code(), Code::InvalidArgument);

    // Ratings of one record, by user.
    let mut rating = RatingServiceClient::new(server.channel("rating").await);
    let page = rating
        .list_ratings(ListRatingsRequest {
            record_id: "m1".into(),
            record_type: "movie".into(),
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let users: Vec<_> = page
        .ratings
        .iter()
        .map(|r| (r.user_id.as_str(), r.value))
        .collect();
    assert_eq!(users, [("ann", 5), ("bob", 4)]);
    assert!(!page.next_page_token.is_empty());

    // HTTP, on the same ports.
    let (metadata_addr, rating_addr) = (
        server.addr("metadata").to_owned(),
        server.addr("rating").to_owned(),
    );
    let (http_data, cli_data) = (data.clone(), data.clone());
    tokio::task::spawn_blocking(move || {
        let (status, body) = http_get(&metadata_addr, "/metadata/list?pageSize=4&titlePrefix=The");
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["metadata"].as_array().unwrap().len(), 4, "{json}");
        assert_eq!(json["metadata"][0]["title"], "The 0");
        assert_eq!(json["nextPageToken"], "", "the last page");
        let (status, body) = http_get(&metadata_addr, "/metadata/list?pageSize=2");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status, 200);
        let token = json["nextPageToken"].as_str().unwrap().to_owned();
        let (status, body) = http_get(
            &metadata_addr,
            &format!("/metadata/list?pageSize=2&pageToken={token}"),
        );
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"m2\""), "{body}");
        let (status, body) = http_get(&metadata_addr, "/metadata/list?pageSize=two");
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("pageSize"), "{body}");
        let (status, body) = http_get(&metadata_addr, "/metadata/list?pageToken=nonsense");
        assert_eq!(status, 400, "{body}");
        let (status, body) = http_get(&rating_addr, "/rating/list?id=m1&pageSize=10");
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["ratings"].as_array().unwrap().len(), 5, "{json}");
        assert_eq!(
            json["ratings"][4],
            serde_json::json!({"userId": "ed", "value": 1})
        );
        drop(http_data);

        // The CLI follows the pages: JSON lines, a limit, a prefix, a table.
        let lines = |args: &[&str]| {
            let mut all = vec!["--data-dir", cli_data.as_str()];
            all.extend(args);
            movieapp(&all).ok()
        };
        let out = lines(&["movie", "list", "-o", "json"]);
        let rows: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 7, "{out}");
        assert_eq!(rows[6]["id"], "m6");
        let out = lines(&[
            "movie",
            "list",
            "--title-prefix",
            "Other",
            "--limit",
            "2",
            "-o",
            "json",
        ]);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out.contains("Other 1") && out.contains("Other 3"), "{out}");
        let table = lines(&["movie", "list"]);
        assert!(
            table.contains("The 4") && table.contains("director"),
            "{table}"
        );
        let out = lines(&["rate", "list", "m1", "-o", "json"]);
        assert_eq!(out.lines().count(), 5, "{out}");
        assert!(
            out.lines().next().unwrap().contains("\"userId\":\"ann\""),
            "{out}"
        );
        let none = lines(&["rate", "list", "nothing"]);
        assert!(none.contains("no ratings"), "{none}");
    })
    .await
    .unwrap();
}

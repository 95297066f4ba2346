//! A fuzz campaign (structured, with proptest) over the dashboard's query parameters: any
//! query string on any page or API read is answered with a page, a 400 naming what was wrong
//! or a 404, never a 5xx or a panic. `JOBS_FUZZ_CASES` sets the number of cases (default 300).

mod common;

use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("JOBS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

const PATHS: [&str; 17] = [
    "",
    "/queues",
    "/queues/default",
    "/scheduled",
    "/retries",
    "/dead",
    "/busy",
    "/metrics",
    "/recurring",
    "/locks",
    "/locks/holder",
    "/api/stats",
    "/api/history",
    "/api/queues/default",
    "/api/dead",
    "/api/retries/count",
    "/api/locks",
];

fn param() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("page".to_owned()),
        Just("per".to_owned()),
        Just("days".to_owned()),
        Just("class".to_owned()),
        Just("q".to_owned()),
        Just("hours".to_owned()),
        Just("offset".to_owned()),
        Just("limit".to_owned()),
        Just("per_page".to_owned()),
        Just("released".to_owned()),
        Just("jid".to_owned()),
        Just("queue".to_owned()),
        "[a-z%]{0,6}",
    ];
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "[0-9]{0,30}",
        "\\PC{0,24}",
        "(%[0-9A-Fa-f]{2}){0,6}",
        Just("%".to_owned()),
        Just("%ZZ".to_owned()),
        Just("-0".to_owned()),
        Just("1e9".to_owned()),
    ];
    (key, value, any::<bool>()).prop_map(|(k, v, eq)| if eq { format!("{k}={v}") } else { k })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn any_query_is_a_page_a_400_or_a_404(
        path in 0usize..PATHS.len(),
        params in proptest::collection::vec(param(), 0..5),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let status = rt.block_on(async {
            let b = common::memory();
            let app = common::app(&b);
            // Percent-encode what a URI cannot hold, as a browser would.
            let query: String = params
                .join("&")
                .chars()
                .flat_map(|c| {
                    if c.is_ascii_alphanumeric() || "-._~=&%+".contains(c) {
                        vec![c.to_string()]
                    } else {
                        c.to_string().bytes().map(|b| format!("%{b:02X}")).collect()
                    }
                })
                .collect();
            let uri = format!("/admin/jobs{}?{query}", PATHS[path]);
            common::get(&app, &uri).await.status
        });
        prop_assert!(
            status.is_success() || status.as_u16() == 400 || status.as_u16() == 404,
            "{} for {:?}{:?}", status, PATHS[path], params
        );
    }
}

//! The client of a running `vigy serve` (`--server URL`): the generated
//! REST client, with the bearer token if one is given.

use anyhow::Context;
use vigy::clients::RestClient;

/// A client of the server at `url`, sending `token` if given.
pub(crate) fn client(url: &str, token: Option<&str>) -> anyhow::Result<RestClient> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().context("the token is not a valid header value")?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    // No total timeout: `tail` follows an event stream for as long as it runs.
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .default_headers(headers)
        .build()
        .context("an HTTP client")?;
    Ok(RestClient::with_client(url.trim_end_matches('/'), http))
}

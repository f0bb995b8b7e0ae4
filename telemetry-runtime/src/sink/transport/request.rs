//! A request as an encoder builds it, and the encoder's contract.

use uuid::Uuid;

use super::headers::shown_url;
use crate::sink::EventView;

/// One request, as a [`RequestEncoder`] builds it.
#[derive(Debug, Default)]
#[non_exhaustive]
pub(crate) struct Request {
    /// Where it goes: an absolute http(s) URL.
    pub url: String,
    /// Headers besides the transport's own (`Content-Type`,
    /// `Content-Encoding`, `Content-Length`).
    pub headers: Vec<(String, String)>,
    /// The body (empty for `GET`).
    pub body: Vec<u8>,
}

impl Request {
    pub(super) fn clear(&mut self) {
        self.url.clear();
        self.headers.clear();
        self.body.clear();
    }

    /// The bytes it takes: URL and body, for the size limits.
    pub(super) fn size(&self) -> usize {
        self.url.len() + self.body.len()
    }

    /// Back to a size it had.
    pub(super) fn truncate(&mut self, (url, body): (usize, usize)) {
        self.url.truncate(url);
        self.body.truncate(body);
    }
}

/// How a sink turns events into requests for an [`HttpTransport`].
///
/// The transport calls [`begin`](RequestEncoder::begin), then
/// [`event`](RequestEncoder::event) for each event of the request, then
/// [`end`](RequestEncoder::end); it measures what each event added, so
/// that an event larger than [`SendContext::max_event_bytes`] is dropped
/// and requests, with what `end` adds, stay within
/// [`HttpTransport::max_request_bytes`]. An event measured that way and
/// then dropped, or found not to fit and left for the next request, is
/// taken back out: the URL and body are cut back to their length before
/// it, and the next call (`event` with the same index, or `end`) follows.
/// So what `end` writes should come from what the request holds, not from
/// a count of `event` calls. A request is built again, from `begin`, for
/// each retry, for each half of a group the server answered 413, and
/// without its last events when what `end` added took it over the limit.
pub(crate) trait RequestEncoder {
    /// The most events one request carries (1 for an endpoint that takes
    /// one event per request, such as a pixel). Default: no limit but size.
    fn max_events(&self) -> usize {
        usize::MAX
    }

    /// Starts a request whose first event is `first`: the method, URL,
    /// headers and the opening of the body.
    fn begin(&mut self, request: &mut Request, first: &EventView<'_>);

    /// Adds the `index`th event of the request (from 0): to the body, with
    /// a separator before it when `index > 0`, or to the URL.
    fn event(&mut self, request: &mut Request, index: usize, event: &EventView<'_>);

    /// Ends the request: the closing of the body.
    fn end(&mut self, request: &mut Request) {
        let _ = request;
    }
}

/// The request `encoder` makes of `events`.
pub(super) fn build(encoder: &mut dyn RequestEncoder, events: &[EventView<'_>]) -> Request {
    let mut request = Request::default();
    if let Some(first) = events.first() {
        encoder.begin(&mut request, first);
        for (index, event) in events.iter().enumerate() {
            encoder.event(&mut request, index, event);
        }
        encoder.end(&mut request);
    }
    request
}

/// Where `encoder` sends `events`, as logs show it: only the start of a
/// request is built, not its events.
pub(super) fn url_of(encoder: &mut dyn RequestEncoder, events: &[EventView<'_>]) -> String {
    let mut request = Request::default();
    if let Some(first) = events.first() {
        encoder.begin(&mut request, first);
    }
    shown_url(&request.url)
}

pub(super) fn uuids(events: &[EventView<'_>]) -> Vec<Uuid> {
    events.iter().map(EventView::uuid).collect()
}

//! The /v1 resources behind the HTTP server: [`Api`] implements the server's [`Handler`].
//!
//! The server calls `begin` (how to take the body), `feed` (an upload's bytes), `abort` (the
//! body ended early), `respond` and `piece` (a streamed body, one chunk per call, resumed
//! from a `u64` cursor). `Api` is made afresh for each call, so what must outlive a call
//! lives in the backend (the upload being streamed, a refusal to answer) or in the cursor;
//! checks that need no kernel are made again where needed.

use core::net::IpAddr;

use super::backend::{ApiUpload, Backend};
use super::{
    Content, Outcome, Reply, Request, Resource, Role, UploadRefused, code, handle, problem, route,
    start_body, upload_check, upload_failed, upload_finish, upload_refusal,
};
use crate::handler::{self, BodySink, Feed, Handler, Intake, Method, Pieces, Response};
use crate::status_code::StatusCode;

/// The API over `backend`, for one call of the server.
pub struct Api<'b, B: Backend + ?Sized> {
    /// The kernel.
    pub backend: &'b mut B,
}

impl<'b, B: Backend + ?Sized> Api<'b, B> {
    /// The API over `backend`.
    pub fn new(backend: &'b mut B) -> Self {
        Self { backend }
    }
}

/// Tells one request from another across loop passes: when its head completed, from where,
/// how long its body is.
#[must_use]
pub fn request_key(request: &handler::Request<'_>) -> u64 {
    let remote = match request.remote {
        Some(IpAddr::V4(address)) => u64::from(u32::from(address)),
        Some(IpAddr::V6(address)) => {
            let bits = u128::from(address);
            // Folded to 64 bits: only equality matters.
            (bits as u64) ^ ((bits >> 64) as u64)
        }
        None => 0,
    };
    request
        .now_ms
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(remote.rotate_left(17))
        .wrapping_add(request.content_length.unwrap_or(0).rotate_left(41))
}

fn is_upload(request: &handler::Request<'_>) -> bool {
    request.method == Method::Post && route::resource(request.path) == Some(Resource::Upload)
}

fn api_request<'a>(request: &handler::Request<'a>, body: &'a [u8]) -> Request<'a> {
    Request {
        method: request.method,
        path: request.path,
        query: request.query,
        content_type: request.content_type,
        content_length: request.content_length,
        // Only /healthz comes without a role, and it is not ours.
        role: request.role.unwrap_or(Role::ReadOnly),
        body,
    }
}

/// Copies a [`Reply`] (its body already in the response buffer, or streamed) into `response`.
fn send(reply: Reply, response: &mut Response<'_>) {
    response.set_status(StatusCode::new(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    response.set_content_type(reply.content_type);
    if let Some(location) = &reply.location {
        let _ = response.location().push_str(location);
    }
    if let Some(allow) = reply.allow {
        response.set_allow(allow);
    }
    if let Some(seconds) = reply.retry_after {
        response.set_retry_after(seconds);
    }
    match reply.content {
        Content::Empty => {}
        Content::Ready(length) => response.body().commit(length),
        Content::Stream(_) => response.set_pieces(),
        Content::Static(document) => response.set_static_body(document),
    }
}

impl<B: Backend + ?Sized> Api<'_, B> {
    /// Answers an upload request once its body is in (or refused, or stopped).
    fn respond_upload(&mut self, request: &handler::Request<'_>, response: &mut Response<'_>) {
        let key = request_key(request);
        let refused = match upload_check(&api_request(request, b"")) {
            Err(refused) => Some(refused),
            Ok(_) => match self.backend.api_refused() {
                Some((refused_key, refusal)) if refused_key == key => {
                    self.backend.set_api_refused(None);
                    Some(UploadRefused::Backend(refusal))
                }
                _ => None,
            },
        };
        if let Some(refused) = refused {
            let reply = upload_refusal(response.body().free_space(), refused);
            send(reply, response);
            response.set_close();
            return;
        }
        let Some(upload) = self.backend.api_upload().filter(|upload| upload.key == key) else {
            // The refusal was answered already, or belonged to another pass: say so plainly.
            let reply = problem(
                response.body().free_space(),
                409,
                code::INSTALL_IN_PROGRESS,
                "the upload could not be started; GET /v1/firmware and try again",
            );
            send(reply, response);
            response.set_close();
            return;
        };
        self.backend.set_api_upload(None);
        if upload.failed || upload.fed < upload.length {
            if !upload.failed {
                super::upload_abort(self.backend);
            }
            let reply = upload_failed(&*self.backend, upload.task, response.body().free_space());
            send(reply, response);
            response.set_close();
            return;
        }
        let reply = upload_finish(self.backend, upload.task);
        let Content::Stream(mut body) = reply.content else {
            send(reply, response);
            return;
        };
        // The task is one small piece: written whole, so no cursor needs the task id.
        let written = body
            .fill(&*self.backend, response.body().free_space())
            .unwrap_or(0);
        let mut whole = reply;
        whole.content = Content::Ready(written);
        send(whole, response);
    }
}

impl<B: Backend + ?Sized> Handler for Api<'_, B> {
    fn begin(&mut self, request: &handler::Request<'_>) -> Intake {
        if is_upload(request) {
            let key = request_key(request);
            let started = upload_check(&api_request(request, b"")).and_then(|length| {
                self.backend
                    .upload_start(length)
                    .map(|task| (task, length))
                    .map_err(UploadRefused::Backend)
            });
            return match started {
                Ok((task, length)) => {
                    self.backend.set_api_upload(Some(ApiUpload {
                        key,
                        task,
                        length,
                        fed: 0,
                        failed: false,
                    }));
                    Intake::Stream {
                        limit: u64::from(length),
                    }
                }
                Err(UploadRefused::Backend(refusal)) => {
                    self.backend.set_api_refused(Some((key, refusal)));
                    Intake::None
                }
                // Made again at `respond`.
                Err(_) => Intake::None,
            };
        }
        if matches!(
            request.method,
            Method::Post | Method::Put | Method::Patch | Method::Delete
        ) {
            Intake::Whole {
                limit: super::MAX_JSON_BODY,
            }
        } else {
            Intake::None
        }
    }

    fn feed(&mut self, request: &handler::Request<'_>, chunk: &[u8]) -> Feed {
        let key = request_key(request);
        let Some(mut upload) = self
            .backend
            .api_upload()
            .filter(|upload| upload.key == key && !upload.failed)
        else {
            return Feed::Stop;
        };
        let result = self.backend.upload_feed(chunk);
        let feed = match result {
            Ok(taken) => {
                // At most the chunk's length, which the server bounds by Content-Length.
                upload.fed = upload
                    .fed
                    .saturating_add(u32::try_from(taken).unwrap_or(u32::MAX));
                Feed::Taken(taken)
            }
            Err(_) => {
                upload.failed = true;
                Feed::Stop
            }
        };
        self.backend.set_api_upload(Some(upload));
        feed
    }

    fn abort(&mut self, request: &handler::Request<'_>) {
        let key = request_key(request);
        if self
            .backend
            .api_upload()
            .is_some_and(|upload| upload.key == key)
        {
            self.backend.set_api_upload(None);
            super::upload_abort(self.backend);
        }
    }

    fn respond(
        &mut self,
        request: &handler::Request<'_>,
        body: &[u8],
        response: &mut Response<'_>,
    ) {
        if is_upload(request) {
            self.respond_upload(request, response);
            return;
        }
        let api = api_request(request, body);
        match handle(self.backend, &api, response.body().free_space()) {
            Outcome::Reply(reply) => send(reply, response),
            Outcome::Upload { .. } => {
                // Only `is_upload` requests start uploads, and they are answered above.
                super::upload_abort(self.backend);
                response.problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    code::UPLOAD_FAILED,
                    "an upload started outside its route",
                );
            }
        }
    }

    fn piece(
        &mut self,
        request: &handler::Request<'_>,
        cursor: &mut u64,
        piece: &mut BodySink<'_>,
    ) -> Pieces {
        let api = api_request(request, b"");
        let Some(start) = start_body(&*self.backend, &api) else {
            return Pieces::Done;
        };
        let mut body = super::Body::resume(start, *cursor);
        match body.fill(&*self.backend, piece.free_space()) {
            Ok(written) => {
                piece.commit(written);
                *cursor = body.to_cursor();
                if written == 0 || body.is_done() {
                    Pieces::Done
                } else {
                    Pieces::More
                }
            }
            // Nothing written: the server ends the response (a piece larger than its buffer).
            Err(_) => Pieces::More,
        }
    }
}

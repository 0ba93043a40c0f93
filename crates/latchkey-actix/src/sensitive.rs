//! Header hygiene: credentials marked sensitive before anything logs them.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderMap, HeaderName};
use latchkey_http::SENSITIVE_HEADERS;

/// Middleware marking `latchkey_http::SENSITIVE_HEADERS` sensitive on the request and the
/// response, so that `Debug` output (and loggers honouring the flag) shows
/// `Sensitive` instead of the value. Register it outside any logging
/// middleware: in actix-web the middleware wrapped last runs first, so
/// `App::new().wrap(Logger::default()).wrap(SensitiveHeaders)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SensitiveHeaders;

impl<S, B> Transform<S, ServiceRequest> for SensitiveHeaders
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = SensitiveHeadersMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SensitiveHeadersMiddleware {
            service: Rc::new(service),
        }))
    }
}

/// The service [`SensitiveHeaders`] wraps an app in.
#[derive(Debug)]
pub struct SensitiveHeadersMiddleware<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for SensitiveHeadersMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, mut request: ServiceRequest) -> Self::Future {
        mark_sensitive(request.headers_mut());
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            let mut response = service.call(request).await?;
            mark_sensitive(response.headers_mut());
            Ok(response)
        })
    }
}

/// Marks every value of every `latchkey_http::SENSITIVE_HEADERS` entry of
/// actix's `headers` sensitive, keeping their order (actix has a header map
/// of its own; the list is the shared one).
pub fn mark_sensitive(headers: &mut HeaderMap) {
    for name in SENSITIVE_HEADERS {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name) {
            continue;
        }
        let values: Vec<header::HeaderValue> = headers.remove(&name).collect();
        for mut value in values {
            value.set_sensitive(true);
            headers.append(name.clone(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn credentials_do_not_appear_in_debug_output() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cr3t-token"),
        );
        headers.append(
            HeaderName::from_static("dpop"),
            HeaderValue::from_static("proof-one"),
        );
        headers.append(
            HeaderName::from_static("dpop"),
            HeaderValue::from_static("proof-two"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("sid=abc"));
        headers.append(header::ACCEPT, HeaderValue::from_static("text/plain"));
        mark_sensitive(&mut headers);
        let debug = format!("{headers:?}");
        for secret in ["s3cr3t-token", "proof-one", "proof-two", "sid=abc"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("text/plain"));
        let dpop: Vec<&str> = headers
            .get_all(HeaderName::from_static("dpop"))
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            dpop,
            vec!["proof-one", "proof-two"],
            "values and order kept"
        );
    }
}

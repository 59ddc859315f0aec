//! The body of `POST /graphql`: a JSON request or batch parsed in one pass.
//!
//! `async_graphql::BatchRequest` deserializes as an untagged enum, which buffers the whole
//! document into an intermediate tree before trying each shape; an agent's metrics batch is
//! a large document, so that doubled the parsing work of every `reportMetrics`. A JSON body
//! here is parsed straight into one request or a list of them, decided by its first byte;
//! every other kind of request (GET with a query string, another content type) goes to
//! `async_graphql_axum`'s extractor, and errors are answered the way it answers them.

use async_graphql::ParseRequestError;
use async_graphql::{BatchRequest, Request};
use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::GraphQLBatchRequest;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request as HttpRequest};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};

/// A GraphQL request or batch from the HTTP request.
pub struct GraphQlBody(pub BatchRequest);

impl<S: Send + Sync> FromRequest<S> for GraphQlBody {
    type Rejection = Response;

    async fn from_request(req: HttpRequest, state: &S) -> Result<Self, Response> {
        let json = req.method() == Method::POST
            && req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|v| v.starts_with("application/json"));
        if !json {
            return GraphQLBatchRequest::<GraphQLRejection>::from_request(req, state)
                .await
                .map(|r| Self(r.into_inner()))
                .map_err(IntoResponse::into_response);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        parse_json(&bytes).map(Self).map_err(|err| {
            GraphQLRejection(ParseRequestError::InvalidRequest(Box::new(err))).into_response()
        })
    }
}

/// One request, or a non-empty list of them when the document is an array.
pub fn parse_json(body: &[u8]) -> Result<BatchRequest, serde_json::Error> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            let requests = serde_json::from_slice::<Vec<Request>>(body)?;
            if requests.is_empty() {
                return Err(serde::de::Error::invalid_length(0, &"a non-empty sequence"));
            }
            Ok(BatchRequest::Batch(requests))
        }
        _ => serde_json::from_slice::<Request>(body).map(BatchRequest::Single),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_or_a_batch_by_the_first_byte() {
        let one = parse_json(br#"{"query":"{ a }","variables":{"x":[1,{"y":"z"}]}}"#).unwrap();
        let BatchRequest::Single(r) = one else {
            panic!("one request");
        };
        assert_eq!(r.query, "{ a }");
        assert_eq!(
            r.variables.into_value().into_json().unwrap(),
            serde_json::json!({ "x": [1, { "y": "z" }] })
        );
        let batch = parse_json(b" \n [{\"query\":\"{ a }\"},{\"query\":\"{ b }\"}]").unwrap();
        let BatchRequest::Batch(rs) = batch else {
            panic!("a batch");
        };
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[1].query, "{ b }");
        assert!(parse_json(b"[]").is_err(), "an empty batch");
        assert!(parse_json(b"{\"query\":").is_err());
        assert!(parse_json(b"").is_err());
        assert!(parse_json(b"[1]").is_err(), "a batch holds requests");
    }
}

//! Lambda: the portal API behind an HTTP API with a JWT authorizer. The seller id comes only
//! from the verified claims (`requestContext.authorizer.jwt.claims.sub`).

use std::sync::Arc;

use axum::http::request::Parts;
use lambda_http::request::RequestContext;
use marketbill_app::model::SellerId;
use marketbill_domain::fees::FeePlans;
use marketbill_lambda::{Config, aws_services};
use portal_api::{Authenticator, Portal, router};

/// Trusts the claims API Gateway verified, nothing else.
struct JwtClaims;

impl Authenticator for JwtClaims {
    fn seller(&self, parts: &Parts) -> Option<SellerId> {
        match parts.extensions.get::<RequestContext>()? {
            RequestContext::ApiGatewayV2(ctx) => {
                let sub = ctx.authorizer.as_ref()?.jwt.as_ref()?.claims.get("sub")?;
                sub.parse().ok()
            }
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

// One thread: Lambda gives an instance one event at a time, and the use cases are sequential.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let services = aws_services(&Config::from_env()?).await?;
    let portal = Arc::new(Portal { services, auth: Arc::new(JwtClaims), plans: FeePlans::bundled() });
    lambda_http::run(router(portal)).await
}

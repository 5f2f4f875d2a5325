//! Lambda: the portal API behind an HTTP API with a JWT authorizer, and the pages. The API's
//! seller id comes only from the verified claims (`requestContext.authorizer.jwt.claims.sub`);
//! the pages' sessions are Cognito ID tokens from the managed login, verified by the function
//! against the pool's keys (see `portal_api::cognito`).

use std::sync::Arc;

use axum::http::request::Parts;
use lambda_http::request::RequestContext;
use marketbill_app::model::SellerId;
use marketbill_domain::fees::FeePlans;
use marketbill_lambda::{Config, aws_services};
use portal_api::cognito::{CognitoConfig, CognitoPages};
use portal_api::{Authenticator, Portal, router};

// See the workspace Cargo.toml: a document is many small allocations, which mimalloc makes cheaper.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The claims API Gateway verified, nothing else.
fn api_caller(parts: &Parts) -> Option<SellerId> {
    match parts.extensions.get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(ctx) => {
            let sub = ctx.authorizer.as_ref()?.jwt.as_ref()?.claims.get("sub")?;
            sub.parse().ok()
        }
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Without the managed login's settings, the API alone (the pages say sign-in is not set up).
struct JwtClaims;

impl Authenticator for JwtClaims {
    fn seller(&self, parts: &Parts) -> Option<SellerId> {
        api_caller(parts)
    }
}

/// The managed login's settings, from the environment the template sets.
fn cognito_config(public_url: Option<String>) -> Option<CognitoConfig> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Some(CognitoConfig {
        issuer: var("COGNITO_ISSUER")?,
        client_id: var("COGNITO_CLIENT_ID")?,
        login_url: var("COGNITO_LOGIN_URL")?,
        public_url: public_url?,
    })
}

// One thread: Lambda gives an instance one event at a time, and the use cases are sequential.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let services = aws_services(&config).await?;
    let auth: Arc<dyn Authenticator> = match cognito_config(config.public_url.clone()) {
        Some(c) => Arc::new(CognitoPages::discover(c, Arc::new(api_caller)).await?),
        None => {
            tracing::warn!("COGNITO_* or PUBLIC_URL not set: the pages cannot sign anyone in");
            Arc::new(JwtClaims)
        }
    };
    let platform = Arc::new(marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default())?);
    let portal = Arc::new(Portal { services, auth, plans: FeePlans::bundled(), platform });
    lambda_http::run(router(portal)).await
}

//! gRPC handler for `AuthService`.

use tonic::{Request, Response, Status};

use super::controller::Controller;
use crate::pb::{self, auth_service_server::AuthService};
use crate::server::grpc::Handler;

#[tonic::async_trait]
impl AuthService for Handler<Controller> {
    async fn get_token(
        &self,
        request: Request<pb::GetTokenRequest>,
    ) -> Result<Response<pb::GetTokenResponse>, Status> {
        let req = request.into_inner();
        let token = self
            .controller()
            .get_token(&req.username, req.password)
            .await?;
        Ok(Response::new(pb::GetTokenResponse { token }))
    }

    async fn validate_token(
        &self,
        request: Request<pb::ValidateTokenRequest>,
    ) -> Result<Response<pb::ValidateTokenResponse>, Status> {
        let username = self
            .controller()
            .validate_token(&request.into_inner().token)?;
        Ok(Response::new(pb::ValidateTokenResponse { username }))
    }
}

//! Code signing configurations, as far as Nimbus can honour them: none.
//!
//! Enforcing a code signing configuration means checking each deployment package's
//! signature against AWS Signer profiles, which Nimbus does not have. So no configuration
//! can be created (CreateCodeSigningConfig is refused with a clear error), every function
//! reports none attached (`GetFunctionCodeSigningConfig` answers an empty ARN, as AWS does
//! for a function without one: infrastructure tools such as Terraform read it for every
//! function), detaching is a no-op, and naming a configuration anywhere answers that it
//! does not exist.

use nimbus_model::services::lambda::Op;
use nimbus_model::types::lambda as t;
use nimbus_protocol::{Input, Output};
use nimbus_types::{AwsError, RequestContext};

use crate::Inner;

pub fn implements(op: Op) -> bool {
    matches!(
        op,
        Op::GetFunctionCodeSigningConfig
            | Op::DeleteFunctionCodeSigningConfig
            | Op::PutFunctionCodeSigningConfig
            | Op::ListCodeSigningConfigs
            | Op::GetCodeSigningConfig
            | Op::CreateCodeSigningConfig
            | Op::UpdateCodeSigningConfig
            | Op::DeleteCodeSigningConfig
            | Op::ListFunctionsByCodeSigningConfig
    )
}

/// A configuration ARN that names nothing (none can exist in Nimbus).
pub fn not_found(arn: &str) -> AwsError {
    AwsError::new(404, "CodeSigningConfigNotFoundException", format!("The code signing configuration cannot be found: {arn}"))
}

#[derive(serde::Deserialize)]
struct ByArn {
    #[serde(rename = "CodeSigningConfigArn")]
    arn: String,
}

impl Inner {
    /// Serves the operations of [`implements`].
    pub(crate) async fn code_signing_call(&self, ctx: &RequestContext, op: Op, input: Input) -> Result<Output, AwsError> {
        match op {
            Op::GetFunctionCodeSigningConfig => {
                let i: t::GetFunctionCodeSigningConfigRequest = input.parse()?;
                let rec = self.resolve_latest(ctx, &i.function_name)?;
                Output::from(&t::GetFunctionCodeSigningConfigResponse { code_signing_config_arn: Some(String::new()), function_name: Some(rec.name) })
            }
            Op::DeleteFunctionCodeSigningConfig => {
                let i: t::DeleteFunctionCodeSigningConfigRequest = input.parse()?;
                self.resolve_latest(ctx, &i.function_name)?;
                Ok(Output::default())
            }
            Op::PutFunctionCodeSigningConfig => {
                let i: t::PutFunctionCodeSigningConfigRequest = input.parse()?;
                self.resolve_latest(ctx, &i.function_name)?;
                Err(not_found(&i.code_signing_config_arn))
            }
            Op::ListCodeSigningConfigs => Output::from(&t::ListCodeSigningConfigsResponse { next_marker: None, code_signing_configs: Some(Vec::new()) }),
            Op::GetCodeSigningConfig | Op::UpdateCodeSigningConfig | Op::DeleteCodeSigningConfig | Op::ListFunctionsByCodeSigningConfig => {
                let i: ByArn = input.parse()?;
                Err(AwsError::new(404, "ResourceNotFoundException", format!("The code signing configuration cannot be found: {}", i.arn)))
            }
            Op::CreateCodeSigningConfig => Err(AwsError::new(
                400,
                "InvalidParameterValueException",
                "Nimbus cannot verify code signatures (it has no AWS Signer): code signing configurations are not supported.",
            )),
            _ => Err(AwsError::internal(format!("{} is not implemented", op.name()))),
        }
    }
}

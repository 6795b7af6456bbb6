//! The one-stop shop's reads of the population registry, as separate
//! systems make them: an X-Road r1 call from the one-stop shop's subsystem
//! to the registry's reading service, through this node's gateway (signed,
//! verified and logged on both sides), stating who reads (the citizen, as
//! `X-Road-UserId`) and why (`X-Road-Issue: onestop-prefill:<procedure>`).
//! The one-stop shop sees only `PopulationLookup`; it never reaches the
//! registry's tables or functions.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use egov_gateway::id::{ClientId, ServiceId, encode_part};
use egov_gateway::{Call, Caller, Gateway};
use egov_onestop::dossier::population::{
    LookupError, LookupFuture, OwnRead, PREFILL_PURPOSE, PopulationLookup, PopulationRecord,
};
use serde_json::{Value, json};

/// The largest registry answer read.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Reads the population registry through the gateway, as the one-stop
/// shop's subsystem.
#[derive(Debug, Clone)]
pub struct GatewayPopulation {
    pub gateway: Gateway,
    /// The one-stop shop's subsystem: `X-Road-Client`.
    pub client: ClientId,
    /// The population registry's reading service.
    pub service: ServiceId,
}

impl GatewayPopulation {
    /// The r1 path of the service's `read` endpoint, each part encoded.
    fn read_target(&self) -> String {
        let provider = &self.service.provider;
        let mut parts = vec![
            provider.instance.as_str(),
            provider.member_class.as_str(),
            provider.member_code.as_str(),
        ];
        if let Some(subsystem) = &provider.subsystem {
            parts.push(subsystem);
        }
        parts.push(&self.service.service_code);
        let encoded: Vec<String> = parts.into_iter().map(encode_part).collect();
        format!("/r1/{}/read", encoded.join("/"))
    }

    fn headers(&self, read: &OwnRead) -> Result<HeaderMap, LookupError> {
        let value = |text: String| {
            HeaderValue::from_str(&text)
                .map_err(|_| LookupError::Unavailable(format!("the header value {text:?} is not visible ASCII")))
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-road-client", value(self.client.to_string())?);
        // The citizen acts, on their own record: X-Road's user id is the
        // country code and the personal ID.
        headers.insert("x-road-userid", value(format!("VN{}", read.personal_id))?);
        headers.insert(
            "x-road-issue",
            value(format!("{PREFILL_PURPOSE}:{}", read.procedure_code))?,
        );
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        Ok(headers)
    }

    async fn read(&self, read: &OwnRead) -> Result<PopulationRecord, LookupError> {
        let body = json!({ "query": { "content": { "personal_id": read.personal_id } } });
        let call = Call {
            method: Method::POST,
            target: self.read_target(),
            headers: self.headers(read)?,
            body: body.to_string().into_bytes(),
            caller: Caller::InProcess,
        };
        let response = self.gateway.call(call).await;
        let status = response.status();
        let xroad_error = response
            .headers()
            .get(egov_gateway::error::ERROR_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(Body::new(response.into_body()), MAX_ANSWER_BYTES)
            .await
            .map_err(|error| LookupError::Unavailable(format!("the answer cannot be read: {error}")))?;
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if let Some(kind) = xroad_error {
            // The gateway's own refusals: no access right, an endpoint not
            // offered. Anything else of the gateway is an outage.
            let message = answer["message"].as_str().unwrap_or_default();
            return Err(if kind.ends_with(".AccessDenied") {
                LookupError::NotAllowed(format!("{kind}: {message}"))
            } else {
                LookupError::Unavailable(format!("{kind}: {message}"))
            });
        }
        let code = answer["code"].as_str().unwrap_or_default();
        match status {
            StatusCode::OK => record(&answer["content"]),
            StatusCode::NOT_FOUND if code == "not_found" => Err(LookupError::NotFound),
            StatusCode::FORBIDDEN => Err(LookupError::NotAllowed(format!("the registry answered {code}"))),
            other => Err(LookupError::Unavailable(format!(
                "the registry answered {other} {code}"
            ))),
        }
    }
}

/// The record in a registry answer's `content`.
fn record(content: &Value) -> Result<PopulationRecord, LookupError> {
    let text = |name: &str| content[name].as_str().map(str::to_owned);
    let (Some(personal_id), Some(full_name)) = (text("personal_id"), text("full_name")) else {
        return Err(LookupError::Unavailable(
            "the registry's answer has no personal_id or full_name".to_owned(),
        ));
    };
    Ok(PopulationRecord {
        personal_id,
        full_name,
        date_of_birth: text("date_of_birth"),
        sex: text("sex"),
        residence_province: text("residence_province"),
        residence_commune: text("residence_commune"),
    })
}

impl PopulationLookup for GatewayPopulation {
    fn read_own<'a>(&'a self, read: &'a OwnRead) -> LookupFuture<'a> {
        Box::pin(self.read(read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_without_the_key_fields_is_not_a_record() {
        assert!(matches!(
            record(&json!({ "full_name": "Nguyễn Văn An" })),
            Err(LookupError::Unavailable(_))
        ));
        let found = record(&json!({
            "personal_id": "001090012345", "full_name": "Nguyễn Văn An", "sex": "male",
            "residence_province": "24", "residence_commune": "07420"
        }))
        .expect("a record");
        assert_eq!(found.sex.as_deref(), Some("male"));
        assert_eq!(found.date_of_birth, None);
    }
}

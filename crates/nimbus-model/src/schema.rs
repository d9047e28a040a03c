//! The runtime form of a botocore service model.
//!
//! The code generator (`nimbus-codegen`) turns each `service-2.json` into a `static`
//! [`Service`] made of these types. Codecs (`nimbus-protocol`) walk them to bind HTTP
//! requests to a canonical JSON value and back, and [`crate::validate`] checks input
//! against the constraints. Keeping the model as data rather than as thousands of
//! generated structs keeps compile times small; typed structs are generated only for
//! services that are implemented.

/// Index of a shape in [`Service::shapes`].
pub type ShapeId = u16;

/// Wire protocol of a service (`metadata.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `json`: awsJson1.0 / awsJson1.1, operation named by `X-Amz-Target`.
    Json,
    /// `rest-json`: restJson1, operation named by method + path.
    RestJson,
    /// `query`: awsQuery, form-encoded `Action=` in, XML out.
    Query,
    /// `rest-xml` (S3 goes through s3s; listed for completeness).
    RestXml,
    /// `ec2` query dialect (not served).
    Ec2,
    /// `smithy-rpc-v2-cbor` (CloudWatch's newest; clients fall back to json/query).
    RpcV2Cbor,
}

/// One AWS service model.
#[derive(Debug)]
pub struct Service {
    /// `metadata.endpointPrefix`, e.g. `dynamodb`, `cognito-idp`.
    pub endpoint_prefix: &'static str,
    /// `metadata.signingName` (falls back to the endpoint prefix).
    pub signing_name: &'static str,
    /// `metadata.serviceId`, e.g. `DynamoDB`.
    pub service_id: &'static str,
    /// `metadata.apiVersion`, e.g. `2012-08-10`.
    pub api_version: &'static str,
    /// `metadata.protocol`: the protocol current clients speak.
    pub protocol: Protocol,
    /// `metadata.protocols` (or just `protocol`): every protocol the service accepts.
    pub protocols: &'static [Protocol],
    /// `metadata.awsQueryCompatible`: a json service that once spoke awsQuery (SQS)
    /// and reports error codes in `x-amzn-query-error` too.
    pub aws_query_compatible: bool,
    /// `metadata.targetPrefix` for awsJson services.
    pub target_prefix: Option<&'static str>,
    /// `metadata.jsonVersion` (`1.0` or `1.1`) for awsJson services.
    pub json_version: Option<&'static str>,
    /// `metadata.xmlNamespace.uri` for awsQuery services.
    pub xml_namespace: Option<&'static str>,
    /// Operations sorted by name.
    pub operations: &'static [Operation],
    /// Shapes sorted by name; [`ShapeId`]s index this slice.
    pub shapes: &'static [Shape],
}

/// One operation of a service.
#[derive(Debug)]
pub struct Operation {
    pub name: &'static str,
    /// `http.method`, e.g. `POST`.
    pub http_method: &'static str,
    /// `http.requestUri`, e.g. `/2015-03-31/functions/{FunctionName}/invocations`.
    pub request_uri: &'static str,
    /// `http.responseCode`, 200 when the model is silent.
    pub response_code: u16,
    pub input: Option<ShapeId>,
    pub output: Option<ShapeId>,
    /// `output.resultWrapper` (awsQuery): e.g. `GetCallerIdentityResult`.
    pub result_wrapper: Option<&'static str>,
    /// Modeled error shapes.
    pub errors: &'static [ShapeId],
    pub deprecated: bool,
}

/// One named shape.
#[derive(Debug)]
pub struct Shape {
    pub name: &'static str,
    pub kind: ShapeKind,
    /// `sensitive`: the value must not be echoed (validation messages, logs). Set for
    /// every kind; [`StringShape::sensitive`] repeats it for strings.
    pub sensitive: bool,
}

/// What a shape is, with its constraints.
#[derive(Debug)]
pub enum ShapeKind {
    Structure(Structure),
    List(List),
    Map(Map),
    String(StringShape),
    /// `integer` or `long`.
    Integer {
        long: bool,
        min: Option<i64>,
        max: Option<i64>,
    },
    /// `float` or `double`.
    Float {
        double: bool,
        min: Option<f64>,
        max: Option<f64>,
    },
    Boolean,
    Timestamp {
        format: Option<TimestampFormat>,
    },
    Blob {
        min: Option<i64>,
        max: Option<i64>,
        streaming: bool,
    },
}

#[derive(Debug)]
pub struct Structure {
    /// Members in model order.
    pub members: &'static [Member],
    /// Present when the structure is an error shape.
    pub error: Option<ErrorInfo>,
    /// `payload`: the member bound to the whole HTTP body (rest protocols).
    pub payload: Option<&'static str>,
    /// `union`: exactly one member may be set.
    pub union: bool,
    /// `document`: an untyped JSON document.
    pub document: bool,
}

#[derive(Debug)]
pub struct List {
    pub member: ShapeId,
    /// `member.locationName` (awsQuery/XML element name, default `member`).
    pub member_location_name: Option<&'static str>,
    pub flattened: bool,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

#[derive(Debug)]
pub struct Map {
    pub key: ShapeId,
    pub value: ShapeId,
    /// `key.locationName`, default `key`.
    pub key_location_name: Option<&'static str>,
    /// `value.locationName`, default `value`.
    pub value_location_name: Option<&'static str>,
    pub flattened: bool,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

#[derive(Debug)]
pub struct StringShape {
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub pattern: Option<&'static str>,
    /// `enum` values; empty when unconstrained.
    pub enum_values: &'static [&'static str],
    pub sensitive: bool,
}

/// Error shape metadata (`error` and `exception` in the model).
#[derive(Debug)]
pub struct ErrorInfo {
    /// `error.code` when it differs from the shape name (awsQuery).
    pub code: Option<&'static str>,
    /// `error.httpStatusCode`, 400 when the model is silent.
    pub http_status: u16,
    /// `error.senderFault`.
    pub sender_fault: bool,
}

/// A member of a structure.
#[derive(Debug)]
pub struct Member {
    pub name: &'static str,
    pub target: ShapeId,
    pub required: bool,
    pub location: Location,
    /// `locationName`: the wire name (header, query key, uri label, or XML/JSON name).
    pub location_name: Option<&'static str>,
    /// `queryName` (ec2 only, kept for completeness).
    pub flattened: bool,
    pub xml_attribute: bool,
    pub idempotency_token: bool,
    /// `jsonvalue`: a header holding base64 JSON.
    pub json_value: bool,
    pub timestamp_format: Option<TimestampFormat>,
    /// `hostLabel`.
    pub host_label: bool,
    pub deprecated: bool,
}

/// Where a member lives in an HTTP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Body,
    Uri,
    Querystring,
    Header,
    /// `headers`: a map bound to all headers with a prefix (`locationName`).
    Headers,
    StatusCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampFormat {
    Iso8601,
    Rfc822,
    UnixTimestamp,
}

impl Service {
    pub fn shape(&self, id: ShapeId) -> &'static Shape {
        &self.shapes[id as usize]
    }

    pub fn operation(&self, name: &str) -> Option<&'static Operation> {
        self.operations
            .binary_search_by(|op| op.name.cmp(name))
            .ok()
            .map(|i| &self.operations[i])
    }

    pub fn shape_named(&self, name: &str) -> Option<ShapeId> {
        self.shapes
            .binary_search_by(|s| s.name.cmp(name))
            .ok()
            .map(|i| i as ShapeId)
    }
}

/// Defaults for generated literals (`Member { name: .., target: .., ..Member::DEFAULT }`).
impl Member {
    pub const DEFAULT: Member = Member {
        name: "",
        target: 0,
        required: false,
        location: Location::Body,
        location_name: None,
        flattened: false,
        xml_attribute: false,
        idempotency_token: false,
        json_value: false,
        timestamp_format: None,
        host_label: false,
        deprecated: false,
    };
}

impl Structure {
    pub const DEFAULT: Structure = Structure {
        members: &[],
        error: None,
        payload: None,
        union: false,
        document: false,
    };
}

impl List {
    pub const DEFAULT: List = List {
        member: 0,
        member_location_name: None,
        flattened: false,
        min: None,
        max: None,
    };
}

impl Map {
    pub const DEFAULT: Map = Map {
        key: 0,
        value: 0,
        key_location_name: None,
        value_location_name: None,
        flattened: false,
        min: None,
        max: None,
    };
}

impl StringShape {
    pub const DEFAULT: StringShape = StringShape {
        min: None,
        max: None,
        pattern: None,
        enum_values: &[],
        sensitive: false,
    };
}

impl Member {
    /// The name on the wire for this member in its location.
    pub fn wire_name(&self) -> &'static str {
        self.location_name.unwrap_or(self.name)
    }
}

impl ErrorInfo {
    /// The error code a client sees for the error shape `shape_name`.
    pub fn code_for<'a>(&'a self, shape_name: &'a str) -> &'a str {
        self.code.unwrap_or(shape_name)
    }
}

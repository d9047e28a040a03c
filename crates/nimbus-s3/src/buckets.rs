//! Buckets: CreateBucket (names, LocationConstraint, BucketOwnerEnforced ACL rules),
//! HeadBucket, ListBuckets, DeleteBucket (BucketNotEmpty while any version is left),
//! GetBucketLocation, and the event notification configuration.

use nimbus_store::{Direction, WriteBatch};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::backend::*;
use crate::meta::*;

impl Backend {
    pub(crate) async fn bkt_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let id = identity(&req);
        let input = req.input;
        if input.object_lock_enabled_for_bucket == Some(true) {
            return Err(S3Error::with_message(
                S3ErrorCode::NotImplemented,
                "Object Lock is not supported by Nimbus.",
            ));
        }
        if !valid_bucket_name(&input.bucket) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidBucketName,
                "The specified bucket is not valid.",
            ));
        }
        // New buckets are BucketOwnerEnforced (ACLs disabled), AWS's default.
        let ownership_ok = input
            .object_ownership
            .as_ref()
            .is_none_or(|o| o.as_str() == ObjectOwnership::BUCKET_OWNER_ENFORCED);
        let acl_ok = crate::config::check_acl(
            &id.account_id,
            &crate::config::AclRequest {
                canned: input.acl.as_ref().map(BucketCannedACL::as_str),
                policy: None,
                grants: [input.grant_read.as_ref(), input.grant_read_acp.as_ref(), input.grant_write.as_ref(), input.grant_write_acp.as_ref(), None],
                full_control: input.grant_full_control.as_ref(),
            },
            false,
        )
        .is_ok();
        if !ownership_ok {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Only the BucketOwnerEnforced object ownership setting is supported.",
            ));
        }
        if !acl_ok {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidBucketAclWithObjectOwnership,
                "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
            ));
        }
        if let Some(raw) = self
            .store
            .get(BUCKETS, input.bucket.as_bytes())
            .map_err(internal)?
        {
            let b: BucketMeta = serde_json::from_slice(&raw).map_err(internal)?;
            if b.account_id == id.account_id {
                return Err(S3Error::with_message(
                    S3ErrorCode::BucketAlreadyOwnedByYou,
                    "Your previous request to create the named bucket succeeded and you already own it.",
                ));
            }
            return Err(S3Error::with_message(
                S3ErrorCode::BucketAlreadyExists,
                "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
            ));
        }
        let constraint = input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|c| c.as_str().to_string())
            .filter(|c| !c.is_empty());
        if let Some(c) = &constraint {
            if c == "us-east-1" {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidLocationConstraint,
                    "The specified location-constraint is not valid",
                ));
            }
        }
        let region = constraint
            .clone()
            .unwrap_or_else(|| "us-east-1".to_string());
        let meta = BucketMeta {
            name: input.bucket.clone(),
            account_id: id.account_id,
            region,
            created_ms: now_ms(),
            tags: None,
            notification_xml: None,
            notifications: None,
            versioning: None,
            mfa_delete: None,
            cors: None,
            policy: None,
        };
        self.store
            .put(
                BUCKETS,
                input.bucket.as_bytes().to_vec(),
                serde_json::to_vec(&meta).map_err(internal)?,
            )
            .map_err(internal)?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        }))
    }
    pub(crate) async fn bkt_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let b = self.bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(b.region),
            ..Default::default()
        }))
    }
    pub(crate) async fn bkt_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let id = identity(&req);
        let mut buckets = Vec::new();
        for item in self
            .store
            .prefix(BUCKETS, b"", Direction::Forward)
            .map_err(internal)?
        {
            let (_, v) = item.map_err(internal)?;
            let b: BucketMeta = serde_json::from_slice(&v).map_err(internal)?;
            if b.account_id != id.account_id {
                continue;
            }
            if let Some(p) = &req.input.prefix {
                if !b.name.starts_with(p.as_str()) {
                    continue;
                }
            }
            buckets.push(Bucket {
                name: Some(b.name),
                creation_date: Some(ts(b.created_ms)),
                bucket_region: Some(b.region),
            });
        }
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(crate::config::owner_of(&id.account_id)),
            ..Default::default()
        }))
    }
    pub(crate) async fn bkt_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let name = &req.input.bucket;
        self.bucket(name)?;
        if self.has_versions(name)? {
            return Err(S3Error::with_message(
                S3ErrorCode::BucketNotEmpty,
                "The bucket you tried to delete is not empty",
            ));
        }
        // Abandoned multipart uploads go with the bucket.
        let mut batch = WriteBatch::new();
        let mut blobs = Vec::new();
        for item in self
            .store
            .prefix(UPLOADS, &object_key(name, ""), Direction::Forward)
            .map_err(internal)?
        {
            let (k, v) = item.map_err(internal)?;
            if let Ok(u) = serde_json::from_slice::<UploadMeta>(&v) {
                for p in self
                    .store
                    .prefix(
                        PARTS,
                        format!("{}/", u.upload_id).as_bytes(),
                        Direction::Forward,
                    )
                    .map_err(internal)?
                {
                    let (pk, pv) = p.map_err(internal)?;
                    if let Ok(pm) = serde_json::from_slice::<PartMeta>(&pv) {
                        blobs.push(pm.blob);
                    }
                    batch.delete(PARTS, pk);
                }
            }
            batch.delete(UPLOADS, k);
        }
        batch.delete(BUCKETS, name.as_bytes().to_vec());
        self.store.write(batch).map_err(internal)?;
        for b in blobs {
            self.delete_blob(&b);
        }
        Ok(S3Response::new(DeleteBucketOutput {}))
    }
    pub(crate) async fn bkt_put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        let input = req.input;
        let mut meta = self.bucket(&input.bucket)?;
        let target = self.events.get().cloned();
        let (account, region) = (meta.account_id.clone(), meta.region.clone());
        let exists = |arn: &str| target.as_ref().map(|t| t.exists(&account, &region, arn));
        let parsed = crate::notify::parse(
            input.notification_configuration,
            input.skip_destination_validation.unwrap_or(false),
            &exists,
        )?;
        meta.notifications = (!parsed.destinations.is_empty() || parsed.event_bridge).then_some(parsed);
        self.store
            .put(
                BUCKETS,
                input.bucket.as_bytes().to_vec(),
                serde_json::to_vec(&meta).map_err(internal)?,
            )
            .map_err(internal)?;
        Ok(S3Response::new(PutBucketNotificationConfigurationOutput::default()))
    }
    pub(crate) async fn bkt_get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        let meta = self.bucket(&req.input.bucket)?;
        let c = meta
            .notifications
            .as_ref()
            .map(crate::notify::to_dto)
            .unwrap_or_default();
        Ok(S3Response::new(GetBucketNotificationConfigurationOutput {
            event_bridge_configuration: c.event_bridge_configuration,
            lambda_function_configurations: c.lambda_function_configurations,
            queue_configurations: c.queue_configurations,
            topic_configurations: c.topic_configurations,
        }))
    }
    pub(crate) async fn bkt_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let b = self.bucket(&req.input.bucket)?;
        let location_constraint =
            (b.region != "us-east-1").then(|| BucketLocationConstraint::from(b.region));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint,
        }))
    }
}

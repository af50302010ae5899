// A gRPC client in another language that knows only the repository's .proto files (protos/), loaded with stock
// include paths: it connects an account and creates, lists, reschedules, cancels and deletes posts through the
// gateway's gRPC port, and reads the typed errors. Prints one JSON line of what it saw, for the test to check.
'use strict';
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const protos = process.env.SP_PROTOS;
const address = process.env.SP_GATEWAY_GRPC; // host:port, h2c
const metadata = new grpc.Metadata();
metadata.set('authorization', `Bearer ${process.env.SP_API_KEY}`);

const definition = protoLoader.loadSync(
  [path.join(protos, 'scheduling/v1/scheduling.proto'), path.join(protos, 'webhooks/v1/webhooks.proto')],
  { includeDirs: [protos], keepCase: true, longs: String, enums: String, defaults: true });
const v1 = grpc.loadPackageDefinition(definition).scheduledposts.scheduling.v1;
const credentials = grpc.credentials.createInsecure();
const posts = new v1.Posts(address, credentials);
const accounts = new v1.SocialAccounts(address, credentials);

// The published google.rpc error model (googleapis google/rpc/status.proto and error_details.proto), as much as is read here.
const rpc = new protobuf.Root();
protobuf.parse('syntax = "proto3"; package google.protobuf; message Any { string type_url = 1; bytes value = 2; }', rpc, { keepCase: true });
protobuf.parse(`
  syntax = "proto3";
  package google.rpc;
  message Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
  message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
  message BadRequest {
    message FieldViolation { string field = 1; string description = 2; }
    repeated FieldViolation field_violations = 1;
  }
`, rpc, { keepCase: true });
rpc.resolveAll();

function details(error) {
  const [bin] = error.metadata ? error.metadata.get('grpc-status-details-bin') : [];
  const seen = { code: grpc.status[error.code] };
  if (!bin) return seen;
  const status = rpc.lookupType('google.rpc.Status').decode(bin);
  for (const any of status.details) {
    const type = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    if (type === 'google.rpc.ErrorInfo') {
      const info = rpc.lookupType(type).decode(any.value);
      seen.reason = info.reason;
      seen.domain = info.domain;
    } else if (type === 'google.rpc.BadRequest') {
      seen.fields = rpc.lookupType(type).decode(any.value).field_violations.map((v) => v.field);
    }
  }
  return seen;
}

const call = (client, method, request, md = metadata) => new Promise((resolve, reject) => {
  client[method](request, md, { deadline: Date.now() + 15000 }, (error, response) => (error ? reject(error) : resolve(response)));
});
const failure = (promise) => promise.then(() => ({ code: 'OK' }), details);
const timestamp = (ms) => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });

(async () => {
  const account = await call(accounts, 'CreateSocialAccount', { platform: 'sandbox', handle: 'node' });
  const inAnHour = Date.now() + 3600 * 1000;
  const created = await call(posts, 'CreatePost', {
    caption: 'From Node', targets: [{ social_account_id: account.id }], scheduled_for: timestamp(inAnHour), metadata: { from: 'node' },
  });
  const listed = await call(posts, 'ListPosts', { page_size: 10, statuses: ['POST_STATUS_SCHEDULED'] });
  const moved = await call(posts, 'ReschedulePost', { post_id: created.id, scheduled_for: timestamp(inAnHour + 3600 * 1000), etag: created.etag });
  const cancelled = await call(posts, 'CancelPost', { post_id: created.id, reason: 'from node', etag: moved.etag });
  const draft = await call(posts, 'CreatePost', { caption: 'Draft from Node', targets: [{ social_account_id: account.id }] });
  const deleted = await call(posts, 'DeletePost', { post_id: draft.id });

  console.log(JSON.stringify({
    account: account.id,
    post: created.id,
    created: created.status,
    target: created.targets[0].status,
    listed: listed.posts.some((p) => p.id === created.id),
    rescheduledVersion: moved.schedule_version,
    rescheduledFor: Number(moved.scheduled_for.seconds),
    cancelled: cancelled.status,
    deleted: deleted.post_id,
    deletedTargets: deleted.targets.map((t) => t.status),
    cancelAgain: await failure(call(posts, 'CancelPost', { post_id: created.id })),
    pastTime: await failure(call(posts, 'CreatePost', {
      caption: 'Too late', targets: [{ social_account_id: account.id }], scheduled_for: timestamp(Date.now() - 3600 * 1000),
    })),
    staleEtag: await failure(call(posts, 'ReschedulePost', { post_id: created.id, scheduled_for: timestamp(inAnHour), etag: created.etag })),
    noKey: await failure(call(posts, 'GetPost', { post_id: created.id }, new grpc.Metadata())),
  }));
  posts.close();
  accounts.close();
})().catch((error) => {
  console.error(error);
  process.exit(1);
});

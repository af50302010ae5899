// The README walk-through through a client generated from the gateway's /openapi.json (openapi-typescript types,
// openapi-fetch calls). tsc --strict compiles it against the generated types, so a field the document gets wrong
// breaks the build; at run time every answer's status is checked. Prints one JSON line of what it saw.
import createClient from "openapi-fetch";
import type { paths } from "./api.js";

const gateway = process.env["SP_GATEWAY_URL"];
const key = process.env["SP_API_KEY"];
const receiver = process.env["SP_WEBHOOK_URL"];
if (!gateway || !key || !receiver) {
  throw new Error("SP_GATEWAY_URL, SP_API_KEY and SP_WEBHOOK_URL are required");
}

const client = createClient<paths>({ baseUrl: gateway, headers: { Authorization: `Bearer ${key}` } });

function expect<T>(what: string, result: { data?: T; error?: unknown; response: Response }, status: number): T {
  if (result.response.status !== status || result.data === undefined) {
    throw new Error(`${what}: expected ${status}, got ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

async function main(): Promise<void> {
  const account = expect("connect an account", await client.POST("/v1/social-accounts", {
    body: { platform: "sandbox", handle: `ts-client-${Date.now()}`, displayName: null, credentials: null },
  }), 201);

  const endpoint = expect("create a webhook endpoint", await client.POST("/v1/webhook-endpoints", {
    body: { url: receiver!, events: ["post.published", "post.cancelled"], description: "TypeScript client" },
  }), 201);
  const secret: string = endpoint.secret;

  const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
  const created = expect("create a post", await client.POST("/v1/posts", {
    body: { caption: "Hello from a generated client", scheduledFor: inAnHour, targets: [{ socialAccountId: account.id }] },
  }), 201);
  const postId: string = created.id;

  const fetched = expect("get the post", await client.GET("/v1/posts/{id}", { params: { path: { id: postId } } }), 200);
  const listed = expect("list the posts", await client.GET("/v1/posts", { params: { query: { limit: "10" } } }), 200);

  const inTwoHours = new Date(Date.now() + 7_200_000).toISOString();
  const rescheduled = expect("reschedule the post", await client.POST("/v1/posts/{id}/reschedule", {
    params: { path: { id: postId } }, body: { scheduledFor: inTwoHours },
  }), 200);

  const cancelled = expect("cancel the post", await client.POST("/v1/posts/{id}/cancel", {
    params: { path: { id: postId } }, body: { reason: "changed our mind" },
  }), 200);

  const again = await client.POST("/v1/posts/{id}/cancel", { params: { path: { id: postId } }, body: {} });
  if (again.response.status !== 409 || again.error === undefined) {
    throw new Error(`cancel again: expected 409, got ${again.response.status}`);
  }
  const code: string = again.error.error.code;

  const deleted = expect("delete the post", await client.DELETE("/v1/posts/{id}", { params: { path: { id: postId } } }), 200);

  console.log(JSON.stringify({
    account: account.id,
    endpoint: endpoint.id,
    secretLength: secret.length,
    created: created.status,
    fetched: fetched.status,
    listed: listed.data.some((post) => post.id === postId),
    rescheduled: rescheduled.scheduledFor,
    cancelled: cancelled.status,
    cancelAgain: code,
    deleted: deleted.deleted,
  }));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

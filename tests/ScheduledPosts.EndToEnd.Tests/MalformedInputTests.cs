using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// A burst of malformed requests through the real gateway into the real services — bad JSON, wrong types, huge strings,
/// NUL and lone surrogates, bytes that are not UTF-8, injection strings in fields, paths and queries — gets only 4xx
/// error envelopes, never a 5xx, and changes nothing: every table of every schema keeps its row count, and every
/// resource reads back as before.
/// </summary>
public sealed class MalformedInputTests(MalformedInputTests.UnlimitedStack stack) : IClassFixture<MalformedInputTests.UnlimitedStack>
{
    /// <summary>The stack with a rate limit the burst cannot reach: every request must meet the services' own checks, not a 429.</summary>
    public sealed class UnlimitedStack : Stack
    {
        protected override void Configure(string service, Dictionary<string, string> environment)
        {
            if (service == "gateway")
            {
                environment["RateLimits__Burst"] = "1000000";
                environment["RateLimits__RequestsPerSecond"] = "1000000";
            }
        }
    }

    private static readonly string Later = DateTimeOffset.UtcNow.AddDays(2).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
    private static readonly string Huge = new('x', 1024 * 1024 + 10);
    private static readonly string Long = new('x', 200 * 1024);

    private static readonly string[] Injections =
    [
        "' OR '1'='1", "'; DROP TABLE posts; --", "\"; DELETE FROM api_keys; --", "../../../../etc/passwd", "<script>alert(1)</script>",
        "${jndi:ldap://127.0.0.1/x}", "{{7*7}}", "%00", "acc_1' UNION SELECT * FROM scheduling.social_accounts --",
    ];

    [Fact]
    public async Task Malformed_requests_get_only_4xx_envelopes_and_change_nothing()
    {
        using var client = await stack.NewWorkspaceAsync("malformed");
        string account = (await client.CreatedAsync("/v1/social-accounts", new { platform = "sandbox", handle = "target" }))["id"]!.GetValue<string>();
        string scheduled = (await client.CreatedAsync("/v1/posts", new { caption = "stays scheduled", targets = new[] { new { socialAccountId = account } }, scheduledFor = Later }))["id"]!.GetValue<string>();
        string draft = (await client.CreatedAsync("/v1/posts", new { caption = "stays a draft", targets = new[] { new { socialAccountId = account } } }))["id"]!.GetValue<string>();
        string endpoint = (await client.CreatedAsync("/v1/webhook-endpoints", new { url = "http://127.0.0.1:9/hook", events = new[] { "post.cancelled" } }))["id"]!.GetValue<string>();
        // Let the events of that setup (post.scheduled) finish their way to the webhooks service first.
        await ScheduledPosts.Testing.Eventually.Until(
            async () => (await stack.ScalarAsync("SELECT count(*) FROM scheduling.outbox WHERE message_type LIKE 'Post%'"),
                         await stack.ScalarAsync("SELECT count(*) FROM webhooks.events")),
            counts => counts.Item1 == counts.Item2, TimeSpan.FromSeconds(30), "the setup's events to reach the webhooks service");
        string before = await StateAsync(client, scheduled, draft, account, endpoint);

        var burst = Burst(account, scheduled, draft, endpoint).ToList();
        var failures = new List<string>();
        foreach (var request in burst)
        {
            using var message = request.Build();
            if (request.Admin)
            {
                message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Stack.AdminToken);
            }

            var response = await client.SendAsync(message);
            int status = (int)response.StatusCode;
            if (status is < 400 or >= 500 or 429)
            {
                string body = await response.Content.ReadAsStringAsync();
                failures.Add($"{request} -> {status} {body[..Math.Min(body.Length, 300)]}");
                continue;
            }

            try
            {
                await response.EnvelopeCodeAsync(request.ToString());
            }
            catch (Exception e) when (e is Xunit.Sdk.XunitException)
            {
                failures.Add(e.Message);
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {burst.Count} malformed requests were not a 4xx envelope:\n{string.Join('\n', failures)}");
        Assert.Equal(before, await StateAsync(client, scheduled, draft, account, endpoint));
    }

    private sealed record Malformed(string Method, string Path, string? Body, string? ContentType = "application/json", bool Admin = false, byte[]? Bytes = null)
    {
        public HttpRequestMessage Build()
        {
            var message = new HttpRequestMessage(new HttpMethod(Method), Path);
            if (Bytes is not null)
            {
                message.Content = new ByteArrayContent(Bytes);
            }
            else if (Body is not null)
            {
                message.Content = new StringContent(Body, Encoding.UTF8);
            }

            if (message.Content is not null)
            {
                message.Content.Headers.ContentType = ContentType is null ? null : MediaTypeHeaderValue.Parse(ContentType);
            }

            return message;
        }

        public override string ToString() => $"{Method} {Path} [{ContentType}] {(Bytes is not null ? "<bytes>" : Body?[..Math.Min(Body.Length, 80)])}";
    }

    private static IEnumerable<Malformed> Burst(string account, string scheduled, string draft, string endpoint)
    {
        // Each writable operation with the string fields a client fills in, and a body that is otherwise valid.
        var operations = new (string Method, string Path, JsonObject Valid, string[] Strings, bool Admin)[]
        {
            ("POST", "/v1/posts", Post(account), ["caption", "scheduledFor", "timezone"], false),
            ("PATCH", $"/v1/posts/{draft}", new JsonObject { ["caption"] = "edited" }, ["caption", "timezone"], false),
            ("POST", $"/v1/posts/{draft}/schedule", new JsonObject { ["scheduledFor"] = Later }, ["scheduledFor"], false),
            ("POST", $"/v1/posts/{scheduled}/reschedule", new JsonObject { ["scheduledFor"] = Later }, ["scheduledFor"], false),
            ("POST", $"/v1/posts/{scheduled}/cancel", new JsonObject { ["reason"] = "typo" }, ["reason"], false),
            ("POST", "/v1/social-accounts", new JsonObject { ["platform"] = "sandbox", ["handle"] = "h" }, ["platform", "handle", "displayName"], false),
            ("POST", "/v1/webhook-endpoints", new JsonObject { ["url"] = "http://127.0.0.1:9/x", ["events"] = new JsonArray("*") }, ["url", "description"], false),
            ("PATCH", "/v1/scheduling-settings", new JsonObject { ["publishLeadSeconds"] = 30 }, [], false),
            ("POST", "/v1/api-keys", new JsonObject { ["name"] = "n", ["role"] = "viewer" }, ["name", "role"], false),
            ("POST", "/admin/workspaces", new JsonObject { ["name"] = "w" }, ["name"], true),
        };

        foreach (var (method, path, valid, strings, admin) in operations)
        {
            // Not JSON, or not the JSON asked for.
            foreach (string body in new[] { "{", "{\"caption\": ", "{\"a\":1,}", "[]", "\"text\"", "42", "true", "{}{}", "\u0000", "{\"x\": NaN}", "{'single': 'quotes'}" })
            {
                yield return new(method, path, body, Admin: admin);
            }

            yield return new(method, path, valid.ToJsonString(), "text/plain", admin);
            yield return new(method, path, valid.ToJsonString(), "application/xml", admin);
            yield return new(method, path, "platform=sandbox&handle=h", "application/x-www-form-urlencoded", admin);
            yield return new(method, path, valid.ToJsonString(), null, admin);
            // Not UTF-8, in a field the operation reads (or any field, where it reads none).
            yield return new(method, path, null, "application/json", admin,
                [.. Encoding.UTF8.GetBytes($"{{\"{strings.FirstOrDefault() ?? "x"}\":\""), 0xC3, 0x28, 0xED, 0xA0, 0x80, .. "\"}"u8]);
            yield return new(method, path, "{\"a\":" + new string('[', 5000) + new string(']', 5000) + "}", Admin: admin);
            yield return new(method, path, With(valid, "caption", Huge), Admin: admin);

            foreach (string field in strings)
            {
                foreach (JsonNode? wrong in new JsonNode?[] { 12, 1.5, true, new JsonArray("a"), new JsonObject { ["a"] = "b" } })
                {
                    yield return new(method, path, With(valid, field, wrong), Admin: admin);
                }

                yield return new(method, path, With(valid, field, Huge), Admin: admin);
                yield return new(method, path, With(valid, field, Long), Admin: admin);
                // Escapes written out: the JSON is well-formed, the strings are not storable text.
                yield return new(method, path, With(valid, field, "NUL_HERE").Replace("NUL_HERE", "a\\u0000b", StringComparison.Ordinal), Admin: admin);
                yield return new(method, path, With(valid, field, "LONE_HERE").Replace("LONE_HERE", "a\\ud800b", StringComparison.Ordinal), Admin: admin);
                yield return new(method, path, With(valid, field, "LONE_HERE").Replace("LONE_HERE", "\\udfffz", StringComparison.Ordinal), Admin: admin);
            }
        }

        // Injection strings where the API expects an id, an enum, a time, a zone or a URL.
        foreach (string injection in Injections)
        {
            yield return new("POST", "/v1/posts", With(Post(account), "targets", new JsonArray(new JsonObject { ["socialAccountId"] = injection })));
            yield return new("POST", "/v1/posts", With(Post(account), "scheduledFor", injection));
            yield return new("POST", "/v1/posts", With(Post(account), "timezone", injection));
            yield return new("POST", "/v1/posts", With(Post(account), "mediaIds", new JsonArray(injection)));
            yield return new("POST", "/v1/social-accounts", new JsonObject { ["platform"] = injection, ["handle"] = "h" }.ToJsonString());
            yield return new("POST", "/v1/webhook-endpoints", new JsonObject { ["url"] = injection, ["events"] = new JsonArray("*") }.ToJsonString());
            yield return new("POST", "/v1/webhook-endpoints", new JsonObject { ["url"] = "http://127.0.0.1:9/x", ["events"] = new JsonArray(injection) }.ToJsonString());
            yield return new("POST", "/v1/api-keys", new JsonObject { ["name"] = "n", ["role"] = injection }.ToJsonString());
            yield return new("POST", "/v1/api-keys", new JsonObject { ["name"] = "n", ["role"] = "viewer", ["scopes"] = new JsonArray(injection) }.ToJsonString());
            string id = Uri.EscapeDataString(injection);
            yield return new("GET", $"/v1/posts/{id}", null);
            yield return new("DELETE", $"/v1/posts/{id}", null);
            yield return new("POST", $"/v1/posts/{id}/cancel", null);
            yield return new("GET", $"/v1/social-accounts/{id}", null);
            yield return new("DELETE", $"/v1/social-accounts/{id}", null);
            yield return new("GET", $"/v1/webhook-endpoints/{id}", null);
            yield return new("DELETE", $"/v1/api-keys/{id}", null);
            yield return new("GET", $"/v1/posts?status={id}", null);
            yield return new("GET", $"/v1/posts?cursor={id}", null);
            yield return new("GET", $"/v1/posts?scheduledFrom={id}", null);
        }

        foreach (string limit in new[] { "abc", "-1", "0", "101", "99999999999999999999", "1e3" })
        {
            yield return new("GET", $"/v1/posts?limit={limit}", null);
        }

        // Out-of-range and oversized values in otherwise valid bodies.
        yield return new("POST", "/v1/posts", With(Post(account), "targets", new JsonArray([.. Enumerable.Range(0, 5000).Select(_ => (JsonNode)new JsonObject { ["socialAccountId"] = account })])));
        yield return new("POST", "/v1/posts", With(Post(account), "metadata", new JsonObject([.. Enumerable.Range(0, 500).Select(i => KeyValuePair.Create($"k{i}", (JsonNode?)"v"))])));
        yield return new("POST", "/v1/posts", With(Post(account), "scheduledFor", "2026-05-25T13:00:00"));
        yield return new("POST", "/v1/posts", With(Post(account), "scheduledFor", "9999-12-31T23:59:59Z"));
        yield return new("PATCH", "/v1/scheduling-settings", "{\"publishLeadSeconds\": 1e309}");
        yield return new("PATCH", "/v1/scheduling-settings", "{\"publishLeadSeconds\": 99999999999999999999}");
        yield return new("PATCH", "/v1/scheduling-settings", "{\"cancelCutoffSeconds\": -1}");
        yield return new("POST", $"/v1/posts/{scheduled}/cancel", With(new JsonObject(), "reason", new string('r', 2000)));
    }

    private static JsonObject Post(string account) => new()
    {
        ["caption"] = "never created",
        ["targets"] = new JsonArray(new JsonObject { ["socialAccountId"] = account }),
        ["scheduledFor"] = Later,
    };

    private static string With(JsonObject valid, string field, JsonNode? value)
    {
        var copy = (JsonObject)valid.DeepClone();
        copy[field] = value?.DeepClone();
        return copy.ToJsonString();
    }

    /// <summary>Every table's row count in every schema, and each resource as the API shows it.</summary>
    private async Task<string> StateAsync(HttpClient client, string scheduled, string draft, string account, string endpoint)
    {
        string tables = await stack.ScalarAsync("""
            SELECT string_agg(table_schema || '.' || table_name, ',' ORDER BY table_schema, table_name)
            FROM information_schema.tables
            WHERE table_schema IN ('gateway', 'scheduling', 'webhooks') AND table_type = 'BASE TABLE'
            """);
        var counts = new List<string>();
        foreach (string table in tables.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            counts.Add($"{table}={await stack.ScalarAsync($"SELECT count(*) FROM {table}")}");
        }

        var views = new List<string>();
        foreach (string path in new[] { $"/v1/posts/{scheduled}", $"/v1/posts/{draft}", $"/v1/social-accounts/{account}", $"/v1/webhook-endpoints/{endpoint}", "/v1/scheduling-settings" })
        {
            views.Add((await client.OkAsync(path)).ToJsonString());
        }

        var keys = (await client.OkAsync("/v1/api-keys"))["data"]!.AsArray().Select(k => $"{k!["id"]}:{k["revokedAt"]?.ToJsonString() ?? "null"}");
        return string.Join('\n', counts.Concat(views).Concat(keys));
    }
}

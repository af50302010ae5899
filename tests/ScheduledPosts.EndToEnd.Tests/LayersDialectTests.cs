using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// A Layers client that changed only its base URL: the documented cancel and reschedule requests, sent as written
/// (ids and base URL adjusted) with a key minted with Layers' <c>publish:write</c>, through the real gateway and
/// services; the documented bodies, and every row of each error table.
/// </summary>
public sealed partial class LayersDialectTests(Stack stack) : IClassFixture<Stack>
{
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")]
    private static partial Regex UtcZ();

    /// <summary>A Layers-style key: read and <c>publish:write</c>; and one without <c>publish:write</c>.</summary>
    private static async Task<(string Publisher, string ReadOnly)> KeysAsync(HttpClient owner)
    {
        var publisher = await owner.CreatedAsync("/v1/api-keys", new { name = "layers", role = "editor", scopes = new[] { "posts:read", "publish:write" } });
        Assert.Equal(["posts:read", "posts:write"], publisher["scopes"]!.AsArray().Select(s => s!.GetValue<string>()));
        var reader = await owner.CreatedAsync("/v1/api-keys", new { name = "layers reader", role = "viewer" });
        return (publisher["secret"]!.GetValue<string>(), reader["secret"]!.GetValue<string>());
    }

    private static async Task<string> QueuedPostAsync(HttpClient owner)
    {
        string account = (await owner.CreatedAsync("/v1/social-accounts", new { platform = "sandbox", handle = $"layers-{Guid.NewGuid():N}" }))["id"]!.GetValue<string>();
        var post = await owner.CreatedAsync("/v1/posts", new
        {
            caption = "Queued for Layers",
            targets = new[] { new { socialAccountId = account } },
            scheduledFor = DateTimeOffset.UtcNow.AddHours(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        });
        return post["id"]!.GetValue<string>();
    }

    /// <summary>As the curl example: the method, <c>Authorization: Bearer</c> (when a key is given), <c>Content-Type: application/json</c>, the body.</summary>
    private async Task<(HttpStatusCode Status, JsonObject Body)> SendAsync(HttpMethod method, string path, string? key, string json)
    {
        using var client = stack.NewGatewayClient();
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {key}");
        }

        var response = await client.SendAsync(request);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    private static string Code(JsonObject body) => body["error"]!["code"]!.GetValue<string>();

    private static string[] Keys(JsonObject body) => [.. body.Select(p => p.Key).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task The_documented_cancel_request_answers_Layers_body_and_each_row_of_its_error_table()
    {
        using var owner = await stack.NewWorkspaceAsync("layers-cancel");
        var (key, readOnly) = await KeysAsync(owner);
        string id = await QueuedPostAsync(owner);
        const string Body = """{ "reason": "Brand asked us to hold — legal review pending." }""";

        // 401 UNAUTHENTICATED: missing or invalid key. 403 FORBIDDEN_SCOPE: the key lacks publish:write.
        var (noKey, unauthenticated) = await SendAsync(HttpMethod.Delete, $"/v1/scheduled-posts/{id}", null, Body);
        Assert.Equal((HttpStatusCode.Unauthorized, "UNAUTHENTICATED"), (noKey, Code(unauthenticated)));
        var (badKey, invalid) = await SendAsync(HttpMethod.Delete, $"/v1/scheduled-posts/{id}", "lp_live_01HX9Y6K7EJ4T2_4QZpN", Body);
        Assert.Equal((HttpStatusCode.Unauthorized, "UNAUTHENTICATED"), (badKey, Code(invalid)));
        var (noScope, forbidden) = await SendAsync(HttpMethod.Delete, $"/v1/scheduled-posts/{id}", readOnly, Body);
        Assert.Equal((HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE"), (noScope, Code(forbidden)));

        // 404 NOT_FOUND: not in your organization.
        using var other = await stack.NewWorkspaceAsync("layers-other");
        var (elsewhere, notFound) = await SendAsync(HttpMethod.Delete, $"/v1/scheduled-posts/{id}", (await KeysAsync(other)).Publisher, Body);
        Assert.Equal((HttpStatusCode.NotFound, "NOT_FOUND"), (elsewhere, Code(notFound)));

        var (status, canceled) = await SendAsync(HttpMethod.Delete, $"/v1/scheduled-posts/{id}", key, Body);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["canceledAt", "id", "status"], Keys(canceled));
        Assert.Equal(id, canceled["id"]!.GetValue<string>());
        Assert.Equal("canceled", canceled["status"]!.GetValue<string>());
        Assert.Matches(UtcZ(), canceled["canceledAt"]!.GetValue<string>());
        var log = (await owner.OkAsync($"/v1/posts/{id}/events"))["data"]!.AsArray();
        Assert.Contains(log, e => e!["reason"]?.GetValue<string>() == "Brand asked us to hold — legal review pending.");

        // 409 CONFLICT: already terminal (canceled; a draft is Layers' draft_in_inbox).
        var (again, conflict) = await SendAsync(HttpMethod.Delete, $"/v1/scheduled-posts/{id}", key, Body);
        Assert.Equal((HttpStatusCode.Conflict, "CONFLICT"), (again, Code(conflict)));
        string account = (await owner.CreatedAsync("/v1/social-accounts", new { platform = "sandbox", handle = $"layers-{Guid.NewGuid():N}" }))["id"]!.GetValue<string>();
        string draft = (await owner.CreatedAsync("/v1/posts", new { caption = "In the inbox", targets = new[] { new { socialAccountId = account } } }))["id"]!.GetValue<string>();
        Assert.Equal((HttpStatusCode.Conflict, "CONFLICT"), await CodeOf(HttpMethod.Delete, $"/v1/scheduled-posts/{draft}", key, Body));

        Assert.Equal(["layers"], await stack.OpenApiTagsAsync("/v1/scheduled-posts/{scheduledPostId}", "delete"));
    }

    [Fact]
    public async Task The_documented_reschedule_request_answers_Layers_body_and_each_row_of_its_error_table()
    {
        using var owner = await stack.NewWorkspaceAsync("layers-reschedule");
        var (key, readOnly) = await KeysAsync(owner);
        string id = await QueuedPostAsync(owner);
        string later = DateTimeOffset.UtcNow.AddDays(1).UtcDateTime.ToString("yyyy-MM-dd'T'HH:00:00'Z'", CultureInfo.InvariantCulture);
        string body = $$"""{ "scheduledFor": "{{later}}" }""";
        string path = $"/v1/scheduled-posts/{id}/reschedule";

        var (status, moved) = await SendAsync(HttpMethod.Post, path, key, body);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["id", "scheduledFor", "status", "updatedAt"], Keys(moved));
        Assert.Equal(id, moved["id"]!.GetValue<string>());
        Assert.Equal("queued", moved["status"]!.GetValue<string>());
        Assert.Equal(later, moved["scheduledFor"]!.GetValue<string>());
        Assert.Matches(UtcZ(), moved["updatedAt"]!.GetValue<string>());

        // 422 VALIDATION on scheduledFor: in the past (beyond the ~30 s tolerance) or malformed.
        foreach (string bad in new[] { """{ "scheduledFor": "2026-04-19T18:00:00Z" }""", """{ "scheduledFor": "tomorrow" }""" })
        {
            var (refused, validation) = await SendAsync(HttpMethod.Post, path, key, bad);
            Assert.Equal((HttpStatusCode.UnprocessableEntity, "VALIDATION"), (refused, Code(validation)));
            Assert.Equal("scheduledFor", validation["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());
        }

        Assert.Equal((HttpStatusCode.Unauthorized, "UNAUTHENTICATED"), await CodeOf(HttpMethod.Post, path, null, body));
        Assert.Equal((HttpStatusCode.Unauthorized, "UNAUTHENTICATED"), await CodeOf(HttpMethod.Post, path, "lp_...", body));
        Assert.Equal((HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE"), await CodeOf(HttpMethod.Post, path, readOnly, body));
        using var other = await stack.NewWorkspaceAsync("layers-other");
        Assert.Equal((HttpStatusCode.NotFound, "NOT_FOUND"), await CodeOf(HttpMethod.Post, path, (await KeysAsync(other)).Publisher, body));

        // 409 CONFLICT: not queued any more — a canceled post stays canceled.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Delete, $"/v1/scheduled-posts/{id}", key, "{}")).Status);
        Assert.Equal((HttpStatusCode.Conflict, "CONFLICT"), await CodeOf(HttpMethod.Post, path, key, body));
        Assert.Equal("cancelled", (await owner.OkAsync($"/v1/posts/{id}"))["status"]!.GetValue<string>());
    }

    /// <summary>
    /// Layers' publish-now semantics as its cancel page describes them: the lead before an immediate publish is the
    /// window to abort it with cancel, and once the post went out cancel is a 409 <c>CONFLICT</c>. Our publish-now
    /// is <c>POST /v1/posts/{id}/publish</c> with the workspace's publish lead (docs/migrating-layers.md).
    /// </summary>
    [Fact]
    public async Task A_publish_now_canceled_inside_its_lead_never_goes_out_and_a_published_post_is_a_409()
    {
        using var owner = await stack.NewWorkspaceAsync("layers-publish-now");
        var (key, _) = await KeysAsync(owner);
        // A lead of ten seconds rather than thirty, so the test waits less; the rule is the same.
        Assert.Equal(HttpStatusCode.OK, (await owner.PatchAsJsonAsync("/v1/scheduling-settings", new { publishLeadSeconds = 10 })).StatusCode);
        string handle = $"layers-now-{Guid.NewGuid():N}";
        string account = (await owner.CreatedAsync("/v1/social-accounts", new { platform = "sandbox", handle }))["id"]!.GetValue<string>();
        string aborted = $"Mistaken immediate publish {Guid.NewGuid()}", sentinel = $"Intended immediate publish {Guid.NewGuid()}";
        var ids = new Dictionary<string, string>();
        foreach (string caption in new[] { aborted, sentinel })
        {
            ids[caption] = (await owner.CreatedAsync("/v1/posts", new { caption, targets = new[] { new { socialAccountId = account } } }))["id"]!.GetValue<string>();
            Assert.Equal(HttpStatusCode.OK, (await owner.PostAsync($"/v1/posts/{ids[caption]}/publish", content: null)).StatusCode);
        }

        var (canceledStatus, canceled) = await SendAsync(HttpMethod.Delete, $"/v1/scheduled-posts/{ids[aborted]}", key, """{ "reason": "Wrong account" }""");
        Assert.Equal(HttpStatusCode.OK, canceledStatus);
        Assert.Equal("canceled", canceled["status"]!.GetValue<string>());

        // The intended post was due after the aborted one: once it is out, the aborted one would have been too.
        await Eventually.Until(async () => (await SendAsync(HttpMethod.Get, $"/v1/scheduled-posts/{ids[sentinel]}", key, "{}")).Body,
            p => p["status"]!.GetValue<string>() == "published", TimeSpan.FromSeconds(60), "the intended post to be published");
        var onPlatform = (await stack.SandboxStatusesAsync()).Where(s => s.Account == handle).Select(s => s.Status).ToList();
        Assert.Equal([sentinel], onPlatform);
        Assert.Equal("canceled", (await SendAsync(HttpMethod.Get, $"/v1/scheduled-posts/{ids[aborted]}", key, "{}")).Body["status"]!.GetValue<string>());

        // 409 CONFLICT: what went out cannot be pulled back through cancel.
        Assert.Equal((HttpStatusCode.Conflict, "CONFLICT"), await CodeOf(HttpMethod.Delete, $"/v1/scheduled-posts/{ids[sentinel]}", key, "{}"));
    }

    private async Task<(HttpStatusCode, string)> CodeOf(HttpMethod method, string path, string? key, string json)
    {
        var (status, body) = await SendAsync(method, path, key, json);
        return (status, Code(body));
    }
}

using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// Two workspaces made through the admin API. Whatever one owns — posts, social accounts, webhook endpoints, API keys —
/// is a 404 to the other on every operation, never shows in its lists, and is left as it was.
/// </summary>
public sealed class TenancyTests(Stack stack) : IClassFixture<Stack>
{
    private static readonly string Later = DateTimeOffset.UtcNow.AddDays(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task Another_workspaces_resources_are_404_on_every_operation_and_absent_from_every_list()
    {
        using var ours = await stack.NewWorkspaceAsync("ours");
        using var theirs = await stack.NewWorkspaceAsync("theirs");
        string account = (await ours.CreatedAsync("/v1/social-accounts", new { platform = "sandbox", handle = "ours" }))["id"]!.GetValue<string>();
        var scheduled = await ours.CreatedAsync("/v1/posts", new { caption = "ours, scheduled", targets = new[] { new { socialAccountId = account } }, scheduledFor = Later });
        string post = scheduled["id"]!.GetValue<string>();
        string target = scheduled["targets"]![0]!["id"]!.GetValue<string>();
        string draft = (await ours.CreatedAsync("/v1/posts", new { caption = "ours, draft", targets = new[] { new { socialAccountId = account } } }))["id"]!.GetValue<string>();
        string endpoint = (await ours.CreatedAsync("/v1/webhook-endpoints", new { url = "http://127.0.0.1:9/hook", events = new[] { "*" } }))["id"]!.GetValue<string>();
        string key = (await ours.CreatedAsync("/v1/api-keys", new { name = "ours", role = "viewer" }))["id"]!.GetValue<string>();
        var before = await SnapshotAsync(ours, post, draft, account, endpoint);

        (HttpMethod Method, string Path, object? Body)[] attempts =
        [
            (HttpMethod.Get, $"/v1/posts/{post}", null),
            (HttpMethod.Patch, $"/v1/posts/{draft}", new { caption = "theirs now" }),
            (HttpMethod.Post, $"/v1/posts/{draft}/schedule", new { scheduledFor = Later }),
            (HttpMethod.Post, $"/v1/posts/{post}/publish", null),
            (HttpMethod.Post, $"/v1/posts/{post}/reschedule", new { scheduledFor = Later }),
            (HttpMethod.Post, $"/v1/posts/{post}/cancel", new { reason = "not yours" }),
            (HttpMethod.Post, $"/v1/posts/{post}/targets/{target}/cancel", null),
            (HttpMethod.Post, $"/v1/posts/{post}/retry", null),
            (HttpMethod.Get, $"/v1/posts/{post}/events", null),
            (HttpMethod.Delete, $"/v1/posts/{draft}", null),
            (HttpMethod.Get, $"/v1/social-accounts/{account}", null),
            (HttpMethod.Delete, $"/v1/social-accounts/{account}", null),
            (HttpMethod.Get, $"/v1/webhook-endpoints/{endpoint}", null),
            (HttpMethod.Get, $"/v1/api-keys/{key}", null),
            (HttpMethod.Delete, $"/v1/api-keys/{key}", null),
        ];
        foreach (var (method, path, body) in attempts)
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
            var response = await theirs.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{method} {path} by another workspace: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            Assert.Equal("NOT_FOUND", await response.EnvelopeCodeAsync($"{method} {path}"));
        }

        Assert.DoesNotContain(post, await theirs.ListIdsAsync("/v1/posts"));
        Assert.DoesNotContain(draft, await theirs.ListIdsAsync("/v1/posts"));
        Assert.Empty(await theirs.ListIdsAsync("/v1/social-accounts"));
        Assert.Empty(await theirs.ListIdsAsync("/v1/webhook-endpoints"));
        Assert.DoesNotContain(key, await theirs.ListIdsAsync("/v1/api-keys"));
        Assert.Single(await theirs.ListIdsAsync("/v1/api-keys"));
        Assert.Equal(before, await SnapshotAsync(ours, post, draft, account, endpoint));
    }

    [Fact]
    public async Task A_post_cannot_target_another_workspaces_account()
    {
        using var ours = await stack.NewWorkspaceAsync("owner-of-account");
        using var theirs = await stack.NewWorkspaceAsync("borrower");
        string account = (await ours.CreatedAsync("/v1/social-accounts", new { platform = "sandbox", handle = "not-shared" }))["id"]!.GetValue<string>();

        var response = await theirs.PostAsJsonAsync("/v1/posts", new { caption = "borrowed", targets = new[] { new { socialAccountId = account } }, scheduledFor = Later });

        Assert.True(response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.UnprocessableEntity,
            $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        await response.EnvelopeCodeAsync("POST /v1/posts with another workspace's account");
        Assert.Empty(await theirs.ListIdsAsync("/v1/posts"));
        Assert.Empty(await ours.ListIdsAsync("/v1/posts"));
    }

    [Fact]
    public async Task Each_workspace_lists_only_its_own()
    {
        using var first = await stack.NewWorkspaceAsync("first");
        using var second = await stack.NewWorkspaceAsync("second");
        foreach (var (client, name) in new[] { (first, "first"), (second, "second") })
        {
            string account = (await client.CreatedAsync("/v1/social-accounts", new { platform = "sandbox", handle = name }))["id"]!.GetValue<string>();
            await client.CreatedAsync("/v1/posts", new { caption = name, targets = new[] { new { socialAccountId = account } } });
            await client.CreatedAsync("/v1/webhook-endpoints", new { url = $"http://127.0.0.1:9/{name}", events = new[] { "*" } });
        }

        foreach (var (client, name) in new[] { (first, "first"), (second, "second") })
        {
            var posts = (await client.OkAsync("/v1/posts"))["data"]!.AsArray();
            Assert.Equal(name, Assert.Single(posts)!["caption"]!.GetValue<string>());
            Assert.Equal(name, Assert.Single((await client.OkAsync("/v1/social-accounts"))["data"]!.AsArray())!["handle"]!.GetValue<string>());
            Assert.EndsWith($"/{name}", Assert.Single((await client.OkAsync("/v1/webhook-endpoints"))["data"]!.AsArray())!["url"]!.GetValue<string>(), StringComparison.Ordinal);
        }
    }

    private static async Task<string> SnapshotAsync(HttpClient client, string post, string draft, string account, string endpoint)
    {
        var keys = (await client.OkAsync("/v1/api-keys"))["data"]!.AsArray()
            .Select(k => $"{k!["id"]}:{k["role"]}:{k["revokedAt"]?.ToJsonString() ?? "null"}");
        var parts = new List<string>();
        foreach (string path in new[] { $"/v1/posts/{post}", $"/v1/posts/{draft}", $"/v1/social-accounts/{account}", $"/v1/webhook-endpoints/{endpoint}" })
        {
            parts.Add((await client.OkAsync(path)).ToJsonString());
        }

        return string.Join('\n', parts.Concat(keys));
    }
}

using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// A Postbreeze client with its base URL set to <c>/postbreeze/api/v1</c>: cancel (its documented request, no body),
/// get and delete of a post, in its post shape with uppercase enums, and its <c>{statusCode, code, message, requestId}</c> errors.
/// </summary>
public sealed partial class PostbreezeDialectTests(Stack stack) : IClassFixture<Stack>
{
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")]
    private static partial Regex UtcZ();

    private async Task<(HttpStatusCode Status, JsonObject Body)> SendAsync(HttpMethod method, string path, string? key)
    {
        using var client = stack.NewGatewayClient();
        using var request = new HttpRequestMessage(method, $"/postbreeze/api/v1{path}");
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {key}");
        }

        var response = await client.SendAsync(request);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    private static void AssertError(JsonObject body, int status, string code)
    {
        Assert.Equal(["code", "message", "requestId", "statusCode"], body.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal(status, body["statusCode"]!.GetValue<int>());
        Assert.Equal(code, body["code"]!.GetValue<string>());
    }

    /// <summary>The keys of Postbreeze's post and target that we give (docs/migrating-postbreeze.md lists the few we do not).</summary>
    private static readonly string[] PostKeys =
        ["caption", "createdAt", "createdByUserId", "createdViaApi", "deletedAt", "id", "media", "scheduledAt", "status", "targets", "timezone", "updatedAt", "workspaceId"];

    private static readonly string[] TargetKeys =
    [
        "attemptCount", "captionOverride", "errorCode", "errorMessage", "externalPostId", "externalUrl", "firstComment", "id",
        "lastAttemptAt", "mediaIds", "platform", "postId", "publishedAt", "scheduledFor", "socialAccountId", "status",
    ];

    private static string[] Keys(JsonNode node) => [.. node.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task Cancel_get_and_delete_answer_Postbreeze_post_and_errors()
    {
        using var owner = await stack.NewWorkspaceAsync("postbreeze");
        string key = (await owner.CreatedAsync("/v1/api-keys", new { name = "postbreeze", role = "editor" }))["secret"]!.GetValue<string>();
        string viewer = (await owner.CreatedAsync("/v1/api-keys", new { name = "postbreeze viewer", role = "viewer" }))["secret"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.Created, (await owner.PostAsJsonAsync("/v1/webhook-endpoints", new { url = stack.Receiver.Url.ToString(), events = new[] { "post.cancelled" } })).StatusCode);
        var accounts = new List<string>();
        foreach (string handle in new[] { "postbreeze", "postbreeze-too" })
        {
            accounts.Add((await owner.CreatedAsync("/v1/social-accounts", new { platform = "sandbox", handle }))["id"]!.GetValue<string>());
        }

        string id = (await owner.CreatedAsync("/v1/posts", new
        {
            caption = "Breezy",
            targets = accounts.Select(account => new { socialAccountId = account }),
            scheduledFor = DateTimeOffset.UtcNow.AddHours(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        }))["id"]!.GetValue<string>();

        var (got, post) = await SendAsync(HttpMethod.Get, $"/posts/{id}", key);
        Assert.Equal(HttpStatusCode.OK, got);
        Assert.Equal(PostKeys, Keys(post));
        Assert.All(post["targets"]!.AsArray(), t => Assert.Equal(TargetKeys, Keys(t!)));
        Assert.Equal("SCHEDULED", post["status"]!.GetValue<string>());
        Assert.Matches(UtcZ(), post["scheduledAt"]!.GetValue<string>());
        Assert.Equal("SANDBOX", post["targets"]![0]!["platform"]!.GetValue<string>());
        Assert.Equal("SCHEDULED", post["targets"]![0]!["status"]!.GetValue<string>());

        // 401 without a valid key; a viewer's key may not cancel (Postbreeze: owners, admins and editors only).
        foreach (string? wrong in new[] { null, "pb_live_wrong" })
        {
            var (refused, unauthorized) = await SendAsync(HttpMethod.Post, $"/posts/{id}/cancel", wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, refused);
            AssertError(unauthorized, 401, "UNAUTHORIZED");
            Assert.Equal("Unauthorized", unauthorized["message"]!.GetValue<string>());
        }

        var (notEditor, forbidden) = await SendAsync(HttpMethod.Post, $"/posts/{id}/cancel", viewer);
        Assert.Equal(HttpStatusCode.Forbidden, notEditor);
        AssertError(forbidden, 403, "FORBIDDEN");

        var (status, canceled) = await SendAsync(HttpMethod.Post, $"/posts/{id}/cancel", key);

        // The post and every account on it are cancelled, a post.cancelled webhook goes out, and the row stays.
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(PostKeys, Keys(canceled));
        Assert.Equal(id, canceled["id"]!.GetValue<string>());
        Assert.Equal("CANCELED", canceled["status"]!.GetValue<string>());
        Assert.Equal(["CANCELED", "CANCELED"], canceled["targets"]!.AsArray().Select(t => t!["status"]!.GetValue<string>()));
        Assert.Matches(UtcZ(), canceled["updatedAt"]!.GetValue<string>());
        var webhook = await Eventually.Until(() => Task.FromResult(stack.Receiver.Received.FirstOrDefault(w => w.Body.Contains(id, StringComparison.Ordinal))),
            w => w is not null, TimeSpan.FromSeconds(60), "the post.cancelled webhook");
        Assert.Equal("post.cancelled", JsonNode.Parse(webhook!.Body)!["type"]!.GetValue<string>());
        Assert.Equal("CANCELED", (await SendAsync(HttpMethod.Get, $"/posts/{id}", key)).Body["status"]!.GetValue<string>());
        var (again, conflict) = await SendAsync(HttpMethod.Post, $"/posts/{id}/cancel", key);
        Assert.Equal(HttpStatusCode.Conflict, again);
        AssertError(conflict, 409, "CONFLICT");

        // It can be rescheduled later (natively, as the migration page says).
        var revived = await owner.PostAsJsonAsync($"/v1/posts/{id}/reschedule", new { scheduledFor = DateTimeOffset.UtcNow.AddHours(2).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) });
        Assert.Equal(HttpStatusCode.OK, revived.StatusCode);
        Assert.Equal("SCHEDULED", (await SendAsync(HttpMethod.Get, $"/posts/{id}", key)).Body["status"]!.GetValue<string>());

        // An id that cannot be a post's is refused as malformed (400 VALIDATION_FAILED), before any lookup.
        var (malformed, invalid) = await SendAsync(HttpMethod.Post, "/posts/not-a-post-id/cancel", key);
        Assert.Equal(HttpStatusCode.BadRequest, malformed);
        AssertError(invalid, 400, "VALIDATION_FAILED");

        // Delete removes it.
        var (removed, deleted) = await SendAsync(HttpMethod.Delete, $"/posts/{id}", key);
        Assert.Equal(HttpStatusCode.OK, removed);
        Assert.True(deleted["deleted"]!.GetValue<bool>());
        var (gone, notFound) = await SendAsync(HttpMethod.Get, $"/posts/{id}", key);
        Assert.Equal(HttpStatusCode.NotFound, gone);
        AssertError(notFound, 404, "NOT_FOUND");
        Assert.Equal(["postbreeze"], await stack.OpenApiTagsAsync("/postbreeze/api/v1/posts/{postId}/cancel", "post"));
    }
}

using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
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

    [Fact]
    public async Task Cancel_get_and_delete_answer_Postbreeze_post_and_errors()
    {
        using var owner = await stack.NewWorkspaceAsync("postbreeze");
        string key = (await owner.CreatedAsync("/v1/api-keys", new { name = "postbreeze", role = "editor" }))["secret"]!.GetValue<string>();
        string viewer = (await owner.CreatedAsync("/v1/api-keys", new { name = "postbreeze viewer", role = "viewer" }))["secret"]!.GetValue<string>();
        string account = (await owner.CreatedAsync("/v1/social-accounts", new { platform = "sandbox", handle = "postbreeze" }))["id"]!.GetValue<string>();
        string id = (await owner.CreatedAsync("/v1/posts", new
        {
            caption = "Breezy",
            targets = new[] { new { socialAccountId = account } },
            scheduledFor = DateTimeOffset.UtcNow.AddHours(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        }))["id"]!.GetValue<string>();

        var (got, post) = await SendAsync(HttpMethod.Get, $"/posts/{id}", key);
        Assert.Equal(HttpStatusCode.OK, got);
        Assert.Equal("SCHEDULED", post["status"]!.GetValue<string>());
        Assert.Matches(UtcZ(), post["scheduledAt"]!.GetValue<string>());
        Assert.Equal("SANDBOX", post["targets"]![0]!["platform"]!.GetValue<string>());
        Assert.Equal("SCHEDULED", post["targets"]![0]!["status"]!.GetValue<string>());

        // 401 without a valid key; a viewer's key may not cancel (Postbreeze: owners, admins and editors only).
        var (noKey, unauthorized) = await SendAsync(HttpMethod.Post, $"/posts/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.Unauthorized, noKey);
        AssertError(unauthorized, 401, "UNAUTHORIZED");
        Assert.Equal("Unauthorized", unauthorized["message"]!.GetValue<string>());
        var (notEditor, forbidden) = await SendAsync(HttpMethod.Post, $"/posts/{id}/cancel", viewer);
        Assert.Equal(HttpStatusCode.Forbidden, notEditor);
        AssertError(forbidden, 403, "FORBIDDEN");

        var (status, canceled) = await SendAsync(HttpMethod.Post, $"/posts/{id}/cancel", key);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(id, canceled["id"]!.GetValue<string>());
        Assert.Equal("CANCELED", canceled["status"]!.GetValue<string>());
        Assert.Equal("CANCELED", canceled["targets"]![0]!["status"]!.GetValue<string>());
        Assert.Matches(UtcZ(), canceled["updatedAt"]!.GetValue<string>());
        var (again, conflict) = await SendAsync(HttpMethod.Post, $"/posts/{id}/cancel", key);
        Assert.Equal(HttpStatusCode.Conflict, again);
        AssertError(conflict, 409, "CONFLICT");

        // An id that cannot be a post's is refused as malformed (400 VALIDATION_FAILED), before any lookup.
        var (malformed, invalid) = await SendAsync(HttpMethod.Post, "/posts/not-a-post-id/cancel", key);
        Assert.Equal(HttpStatusCode.BadRequest, malformed);
        AssertError(invalid, 400, "VALIDATION_FAILED");

        // Cancel keeps the post; delete removes it.
        var (removed, deleted) = await SendAsync(HttpMethod.Delete, $"/posts/{id}", key);
        Assert.Equal(HttpStatusCode.OK, removed);
        Assert.True(deleted["deleted"]!.GetValue<bool>());
        var (gone, notFound) = await SendAsync(HttpMethod.Get, $"/posts/{id}", key);
        Assert.Equal(HttpStatusCode.NotFound, gone);
        AssertError(notFound, 404, "NOT_FOUND");
    }
}

using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// A PostPost client that changed only its base URL: its documented delete request (<c>x-api-key</c>, no body), the
/// get-post and list-posts reads its page uses, <c>{"success": true}</c>, a 404 on repeat, and its error table.
/// </summary>
public sealed class PostPostDialectTests(Stack stack) : IClassFixture<Stack>
{
    private async Task<(HttpStatusCode Status, JsonObject Body)> SendAsync(HttpMethod method, string path, string? key)
    {
        using var client = stack.NewGatewayClient();
        using var request = new HttpRequestMessage(method, path);
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("x-api-key", key);
        }

        var response = await client.SendAsync(request);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    [Fact]
    public async Task The_documented_delete_request_answers_success_then_404_and_the_reads_show_the_post_group()
    {
        using var owner = await stack.NewWorkspaceAsync("postpost");
        string key = (await owner.CreatedAsync("/v1/api-keys", new { name = "postpost", role = "editor" }))["secret"]!.GetValue<string>();
        string account = (await owner.CreatedAsync("/v1/social-accounts", new { platform = "sandbox", handle = "postpost" }))["id"]!.GetValue<string>();
        string id = (await owner.CreatedAsync("/v1/posts", new
        {
            caption = "Grouped for PostPost",
            targets = new[] { new { socialAccountId = account } },
            scheduledFor = DateTimeOffset.UtcNow.AddHours(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        }))["id"]!.GetValue<string>();

        var (got, group) = await SendAsync(HttpMethod.Get, $"/api/v1/get-post/{id}", key);
        Assert.Equal(HttpStatusCode.OK, got);
        var platformPost = group["posts"]!.AsArray().Single()!;
        Assert.Equal("sandbox", platformPost["platform"]!.GetValue<string>());
        Assert.Equal("Grouped for PostPost", platformPost["content"]!.GetValue<string>());
        Assert.Equal("scheduled", platformPost["status"]!.GetValue<string>());

        var (listed, page) = await SendAsync(HttpMethod.Get, "/api/v1/list-posts?status=scheduled&platform=sandbox&page=1&limit=100", key);
        Assert.Equal(HttpStatusCode.OK, listed);
        Assert.Equal([id], page["posts"]!.AsArray().Select(p => p!["postGroupId"]!.GetValue<string>()));
        Assert.False(page["pagination"]!["hasNextPage"]!.GetValue<bool>());

        // 404 "Post group not found": another user's group.
        using var other = await stack.NewWorkspaceAsync("postpost-other");
        string otherKey = (await other.CreatedAsync("/v1/api-keys", new { name = "postpost", role = "editor" }))["secret"]!.GetValue<string>();
        var (elsewhere, notTheirs) = await SendAsync(HttpMethod.Delete, $"/api/v1/delete-post/{id}", otherKey);
        Assert.Equal((HttpStatusCode.NotFound, "Post group not found"), (elsewhere, notTheirs["error"]!.GetValue<string>()));

        // 401 "Invalid API key": a bad or missing x-api-key.
        foreach (string? wrong in new[] { "YOUR_API_KEY", null })
        {
            var (refused, error) = await SendAsync(HttpMethod.Delete, $"/api/v1/delete-post/{id}", wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, refused);
            Assert.Equal("Invalid API key", error["error"]!.GetValue<string>());
        }

        var (status, deleted) = await SendAsync(HttpMethod.Delete, $"/api/v1/delete-post/{id}", key);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("""{"success":true}""", deleted.ToJsonString());
        Assert.Equal(HttpStatusCode.NotFound, (await owner.GetAsync($"/v1/posts/{id}")).StatusCode);

        // 404 "Post group not found": once deleted.
        var (again, notFound) = await SendAsync(HttpMethod.Delete, $"/api/v1/delete-post/{id}", key);
        Assert.Equal(HttpStatusCode.NotFound, again);
        Assert.Equal("Post group not found", notFound["error"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, $"/api/v1/get-post/{id}", key)).Status);
        Assert.Equal(["postpost"], await stack.OpenApiTagsAsync("/api/v1/delete-post/{postGroupId}", "delete"));
    }
}

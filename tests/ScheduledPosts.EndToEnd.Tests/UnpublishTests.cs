using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>Unpublish through the gateway, the scheduling service, the bus, the publisher and the sandbox platform.</summary>
public sealed class UnpublishTests(Stack stack) : IClassFixture<Stack>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Unpublish_removes_the_copy_from_the_sandbox_platform_once_and_tells_subscribers()
    {
        var endpoint = await stack.Gateway.PostAsJsonAsync("/v1/webhook-endpoints",
            new { url = stack.Receiver.Url.ToString(), events = new[] { "target.unpublished" } });
        Assert.Equal(HttpStatusCode.Created, endpoint.StatusCode);
        string handle = $"unpub-{Guid.NewGuid():N}";
        string account = await stack.ConnectSandboxAccountAsync(handle);
        string caption = $"Here today {Guid.NewGuid()}";
        string postId = (await stack.CreatePostAsync(caption, account, DateTimeOffset.UtcNow.AddSeconds(1)))["id"]!.GetValue<string>();
        var published = await Eventually.Until(() => stack.GetPostAsync(postId),
            p => p["status"]!.GetValue<string>() == "published", Patience, "the post to be published");
        string targetId = published["targets"]![0]!["id"]!.GetValue<string>();
        string externalId = published["targets"]![0]!["externalPostId"]!.GetValue<string>();
        Assert.Null(Assert.Single(await stack.SandboxStatusesAsync(), s => s.Status == caption).DeletedAt);

        var unpublish = await stack.Gateway.PostAsync($"/v1/posts/{postId}/unpublish", null);
        Assert.Equal(HttpStatusCode.OK, unpublish.StatusCode);

        var removed = await Eventually.Until(() => stack.GetPostAsync(postId),
            p => p["targets"]![0]!["status"]!.GetValue<string>() == "unpublished", Patience, "the target to be unpublished");
        Assert.Equal("published", removed["status"]!.GetValue<string>());
        var copy = Assert.Single(await stack.SandboxStatusesAsync(), s => s.Status == caption);
        Assert.Equal(externalId, copy.Id);
        Assert.NotNull(copy.DeletedAt);
        // Deleted once: its author deleting it again finds nothing.
        using var byHand = new HttpRequestMessage(HttpMethod.Delete, $"/api/v1/statuses/{externalId}");
        byHand.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", handle);
        Assert.Equal(HttpStatusCode.NotFound, (await stack.Sandbox.SendAsync(byHand)).StatusCode);

        var again = await stack.Gateway.PostAsync($"/v1/posts/{postId}/targets/{targetId}/unpublish", null);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal("CONFLICT", (await again.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]!.GetValue<string>());

        var webhook = await Eventually.Until(() => Task.FromResult(stack.Receiver.Received.FirstOrDefault(w => w.Body.Contains(postId, StringComparison.Ordinal))),
            w => w is not null, Patience, "the target.unpublished webhook");
        var body = JsonNode.Parse(webhook!.Body)!;
        Assert.Equal(("target.unpublished", targetId), (body["type"]!.GetValue<string>(), body["data"]!["targetId"]!.GetValue<string>()));
    }
}

using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>The walking skeleton's promises, driven through the gateway's public REST API.</summary>
public sealed class PublishingTests(Stack stack) : IClassFixture<Stack>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_post_scheduled_two_seconds_ahead_appears_on_the_platform_exactly_once()
    {
        string account = await stack.ConnectSandboxAccountAsync("alice");
        string caption = $"Launch day! {Guid.NewGuid()}";
        var post = await stack.CreatePostAsync(caption, account, DateTimeOffset.UtcNow.AddSeconds(2));
        string postId = post["id"]!.GetValue<string>();
        Assert.Equal("scheduled", post["status"]!.GetValue<string>());

        var published = await Eventually.Until(() => stack.GetPostAsync(postId),
            p => p["status"]!.GetValue<string>() == "published", Patience, "the post to be published");

        var target = published["targets"]![0]!;
        Assert.Equal("published", target["status"]!.GetValue<string>());
        var onPlatform = (await stack.SandboxStatusesAsync()).Where(s => s.Status == caption).ToList();
        var copy = Assert.Single(onPlatform);
        Assert.Equal("alice", copy.Account);
        Assert.Equal(copy.Id, target["externalPostId"]!.GetValue<string>());
        Assert.True(copy.ReceivedAt >= DateTimeOffset.Parse(post["scheduledFor"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture).AddMilliseconds(-50),
            "published before its time");
    }

    [Fact]
    public async Task A_cancelled_post_never_appears_and_subscribers_get_a_signed_post_cancelled_webhook()
    {
        var endpoint = await stack.Gateway.PostAsJsonAsync("/v1/webhook-endpoints",
            new { url = stack.Receiver.Url.ToString(), events = new[] { "post.cancelled" } });
        Assert.Equal(HttpStatusCode.Created, endpoint.StatusCode);
        string secret = (await endpoint.Content.ReadFromJsonAsync<JsonObject>())!["secret"]!.GetValue<string>();
        Assert.StartsWith("whsec_", secret, StringComparison.Ordinal);

        string account = await stack.ConnectSandboxAccountAsync("bob");
        string cancelledCaption = $"Never say this {Guid.NewGuid()}";
        string controlCaption = $"But say this {Guid.NewGuid()}";
        var due = DateTimeOffset.UtcNow.AddSeconds(3);
        string cancelledId = (await stack.CreatePostAsync(cancelledCaption, account, due))["id"]!.GetValue<string>();
        string controlId = (await stack.CreatePostAsync(controlCaption, account, due.AddSeconds(1)))["id"]!.GetValue<string>();

        var cancel = await stack.Gateway.PostAsJsonAsync($"/v1/posts/{cancelledId}/cancel", new { reason = "typo" });
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        var cancelled = (await cancel.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("cancelled", cancelled["status"]!.GetValue<string>());
        Assert.Equal("cancelled", cancelled["targets"]![0]!["status"]!.GetValue<string>());

        var again = await stack.Gateway.PostAsJsonAsync($"/v1/posts/{cancelledId}/cancel", new { });
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal("CONFLICT", (await again.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]!.GetValue<string>());

        // The control post, due a second after the cancelled one, publishing proves the cancelled one's time has passed.
        await Eventually.Until(() => stack.GetPostAsync(controlId),
            p => p["status"]!.GetValue<string>() == "published", Patience, "the control post to be published");
        var statuses = await stack.SandboxStatusesAsync();
        Assert.DoesNotContain(statuses, s => s.Status == cancelledCaption);
        Assert.Single(statuses, s => s.Status == controlCaption);
        Assert.Equal("cancelled", (await stack.GetPostAsync(cancelledId))["status"]!.GetValue<string>());

        var webhook = await Eventually.Until(() => Task.FromResult(stack.Receiver.Received.FirstOrDefault(w => w.Body.Contains(cancelledId, StringComparison.Ordinal))),
            w => w is not null, Patience, "the post.cancelled webhook");
        var body = JsonNode.Parse(webhook!.Body)!;
        Assert.Equal("post.cancelled", body["type"]!.GetValue<string>());
        Assert.Equal(cancelledId, body["data"]!["id"]!.GetValue<string>());
        Assert.Equal("cancelled", body["data"]!["status"]!.GetValue<string>());
        Assert.Equal(body["id"]!.GetValue<string>(), webhook.Headers["webhook-id"]);
        Assert.True(SignatureVerifies(secret, webhook), $"signature {webhook.Headers["webhook-signature"]} does not verify");
    }

    /// <summary>Standard Webhooks, computed here from the spec rather than with the project's signer.</summary>
    private static bool SignatureVerifies(string secret, ReceivedWebhook webhook)
    {
        byte[] key = Convert.FromBase64String(secret["whsec_".Length..]);
        string signed = $"{webhook.Headers["webhook-id"]}.{webhook.Headers["webhook-timestamp"]}.{webhook.Body}";
        string expected = "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(signed)));
        return webhook.Headers["webhook-signature"].Split(' ').Contains(expected);
    }
}

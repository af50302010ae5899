using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>
/// <c>account.reauth_required</c>, an <see cref="AccountEvent"/> published on the bus as the scheduling service does:
/// delivered like a post event to the endpoints subscribed to it, and checked like one before anything is signed.
/// </summary>
public sealed class AccountEventTests(DeliveringWebhooksApp app) : IClassFixture<DeliveringWebhooksApp>, IAsyncLifetime
{
    private Receiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await Receiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task A_reauth_required_event_reaches_each_subscribed_endpoint_signed_with_the_account()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var reauth = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "account.reauth_required");
        var everything = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        var postsOnly = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "post.published", "post.failed", "target.failed");
        var otherWorkspace = await app.CreateEndpointAsync(WebhooksApp.NewWorkspace(), _receiver.NewUrl(), "*");
        var e = TestApi.NewAccountEvent(workspace);

        await app.PublishAsync(e);

        var toReauth = Assert.Single(await _receiver.WaitForRequestsAsync(reauth.Url, 1, "the webhook"));
        var toEverything = Assert.Single(await _receiver.WaitForRequestsAsync(everything.Url, 1, "the webhook"));
        foreach (var request in new[] { toReauth, toEverything })
        {
            Assert.Equal("application/json", request.ContentType);
            Assert.Equal(e.EventId, request.Header("webhook-id"));
            using var body = JsonDocument.Parse(request.Body);
            Assert.Equal(["id", "type", "timestamp", "data"], body.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.Equal(e.EventId, body.RootElement.GetProperty("id").GetString());
            Assert.Equal("account.reauth_required", body.RootElement.GetProperty("type").GetString());
            Assert.Equal("2026-05-25T14:00:00.000Z", body.RootElement.GetProperty("timestamp").GetString());
            var data = body.RootElement.GetProperty("data");
            Assert.True(JsonElement.DeepEquals(e.Data, data), data.GetRawText());
            Assert.Equal(e.AccountId, data.GetProperty("id").GetString());
            Assert.Equal("reauth_required", data.GetProperty("status").GetString());
        }

        Assert.Equal([null, null, "WebhookVerificationError: No matching signature found"],
            await StandardWebhooks.VerifyAsync([(reauth.Secret, toReauth), (everything.Secret, toEverything), (reauth.Secret, toEverything)]));

        // The fan-out commits in one transaction: these two deliveries are all there will ever be.
        Assert.Equal(2, await app.QuerySingleAsync<int>("SELECT count(*)::int FROM webhooks.deliveries WHERE event_id = @EventId", new { e.EventId }));
        Assert.Empty(_receiver.RequestsTo(postsOnly.Url));
        Assert.Empty(_receiver.RequestsTo(otherWorkspace.Url));
        Assert.Empty(await app.DeliveriesAsync(workspace, postsOnly.Id));

        var listed = await app.WaitForDeliveryAsync(workspace, reauth.Id, e.EventId, d => d.Status() == "delivered", "delivered");
        Assert.Equal("account.reauth_required", listed.GetProperty("eventType").GetString());
        Assert.Equal(reauth.Id, listed.GetProperty("endpointId").GetString());
    }

    [Fact]
    public async Task A_reauth_required_delivery_is_retried_and_redelivered_with_the_same_webhook_id()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(500, 502, 503), "account.reauth_required");
        var e = TestApi.NewAccountEvent(workspace);

        await app.PublishAsync(e);

        var failed = await app.WaitForDeliveryAsync(workspace, endpoint.Id, e.EventId, d => d.Status() == "failed", "failed");
        Assert.Equal([500, 502, 503], failed.AttemptStatusCodes());
        string deliveryId = failed.GetProperty("id").GetString()!;

        var redelivering = await app.PostJsonAsync(workspace, $"/v1/webhook-deliveries/{deliveryId}/redeliver", HttpStatusCode.Accepted);
        Assert.Equal("pending", redelivering.Status());
        Assert.Equal("account.reauth_required", redelivering.GetProperty("eventType").GetString());

        var delivered = await Eventually.Until(() => app.GetJsonAsync(workspace, $"/v1/webhook-deliveries/{deliveryId}"),
            d => d.Status() == "delivered", TestApi.Patience, "redelivered");
        Assert.Equal([500, 502, 503, 200], delivered.AttemptStatusCodes());
        var received = _receiver.RequestsTo(endpoint.Url);
        Assert.Equal(4, received.Count);
        Assert.All(received, r => Assert.Equal(e.EventId, r.Header("webhook-id")));
        Assert.Single(received.Select(r => r.Body).Distinct());
        await StandardWebhooks.AssertVerifiesAsync(endpoint.Secret, received);
    }

    [Theory]
    [InlineData("a post event type")]
    [InlineData("the test event type")]
    [InlineData("an unknown event type")]
    [InlineData("a post id for the account")]
    [InlineData("an event id of the wrong kind")]
    [InlineData("no workspace")]
    [InlineData("data of another account")]
    [InlineData("data that is not an account")]
    [InlineData("data not an object")]
    public async Task An_account_event_that_is_not_about_its_own_account_is_refused(string forgery)
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        var genuine = TestApi.NewAccountEvent(workspace);
        string postId = Ids.New("post");
        var forged = forgery switch
        {
            "a post event type" => genuine with { Type = "post.cancelled" },
            "the test event type" => genuine with { Type = "webhook.test" },
            "an unknown event type" => genuine with { Type = "account.hijacked" },
            "a post id for the account" => genuine with { AccountId = postId, Data = With(genuine.Data, "id", postId) },
            "an event id of the wrong kind" => genuine with { EventId = Ids.New("msg") },
            "no workspace" => genuine with { WorkspaceId = "" },
            "data of another account" => genuine with { Data = With(genuine.Data, "id", Ids.New("acc")) },
            "data that is not an account" => genuine with { Data = Without(genuine.Data, "platform") },
            _ => genuine with { Data = JsonSerializer.SerializeToElement(genuine.AccountId) },
        };

        await app.PublishAsync(forged);

        await AssertRefusedAsync(forged.EventId, endpoint.Url);
    }

    [Fact]
    public async Task An_event_that_moves_a_known_account_to_another_workspace_is_refused()
    {
        string owner = WebhooksApp.NewWorkspace();
        string intruder = WebhooksApp.NewWorkspace();
        var ownersEndpoint = await app.CreateEndpointAsync(owner, _receiver.NewUrl(), "account.reauth_required");
        var intrudersEndpoint = await app.CreateEndpointAsync(intruder, _receiver.NewUrl(), "*");
        var genuine = TestApi.NewAccountEvent(owner);
        await app.PublishAsync(genuine);
        await _receiver.WaitForRequestsAsync(ownersEndpoint.Url, 1, "the genuine event's webhook");

        // Self-consistent (account data names no workspace), so only the account's history can tell.
        var forged = genuine with { EventId = Ids.New("evt"), WorkspaceId = intruder };
        await app.PublishAsync(forged);

        string reason = await AssertRefusedAsync(forged.EventId, intrudersEndpoint.Url);
        Assert.Contains("another workspace", reason, StringComparison.Ordinal);
        Assert.Single(_receiver.RequestsTo(ownersEndpoint.Url));
    }

    private async Task<string> AssertRefusedAsync(string eventId, string url)
    {
        string reason = await Eventually.Until(() => Task.FromResult(app.Consumed.Fault(eventId)), f => f is not null, TestApi.Patience, "the event to be refused") ?? "";
        Assert.Equal(0, app.Consumed.Count(eventId));
        Assert.Equal(0, await app.QuerySingleAsync<int>("SELECT count(*)::int FROM webhooks.events WHERE id = @eventId", new { eventId }));
        Assert.Empty(_receiver.RequestsTo(url));
        return reason;
    }

    private static JsonElement With(JsonElement data, string property, string value)
    {
        var node = JsonNode.Parse(data.GetRawText())!.AsObject();
        node[property] = value;
        return JsonSerializer.SerializeToElement(node);
    }

    private static JsonElement Without(JsonElement data, string property)
    {
        var node = JsonNode.Parse(data.GetRawText())!.AsObject();
        node.Remove(property);
        return JsonSerializer.SerializeToElement(node);
    }
}

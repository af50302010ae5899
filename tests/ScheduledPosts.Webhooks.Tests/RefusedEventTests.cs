using System.Text.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>
/// Issue 14: the webhooks service signs what it receives with a genuine secret, so it checks what it receives, though
/// the broker lets only the scheduling service publish events. A refused event records nothing and reaches nobody.
/// </summary>
public sealed class RefusedEventTests(DeliveringWebhooksApp app) : IClassFixture<DeliveringWebhooksApp>, IAsyncLifetime
{
    private Receiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await Receiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Theory]
    [InlineData("data of another workspace")]
    [InlineData("data of another post")]
    [InlineData("data not an object")]
    [InlineData("the test event type")]
    [InlineData("an account event type")]
    [InlineData("an unknown event type")]
    public async Task An_event_that_is_not_about_its_own_post_in_its_own_workspace_is_refused(string forgery)
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        var genuine = TestApi.NewEvent(workspace);
        var forged = forgery switch
        {
            "data of another workspace" => genuine with { Data = With(genuine.Data, "workspaceId", WebhooksApp.NewWorkspace()) },
            "data of another post" => genuine with { Data = With(genuine.Data, "id", "post_someone_elses") },
            "data not an object" => genuine with { Data = JsonSerializer.SerializeToElement("hello") },
            "the test event type" => genuine with { Type = "webhook.test" },
            "an account event type" => genuine with { Type = "account.reauth_required" },
            _ => genuine with { Type = "post.hijacked" },
        };

        await app.PublishAsync(forged);

        await AssertRefusedAsync(forged.EventId, endpoint.Url);
    }

    [Fact]
    public async Task An_event_that_moves_a_known_post_to_another_workspace_is_refused()
    {
        string owner = WebhooksApp.NewWorkspace();
        string intruder = WebhooksApp.NewWorkspace();
        var ownersEndpoint = await app.CreateEndpointAsync(owner, _receiver.NewUrl(), "*");
        var intrudersEndpoint = await app.CreateEndpointAsync(intruder, _receiver.NewUrl(), "*");
        var genuine = TestApi.NewEvent(owner);
        await app.PublishAsync(genuine);
        await _receiver.WaitForRequestsAsync(ownersEndpoint.Url, 1, "the genuine event's webhook");

        // Self-consistent, so only the post's history can tell: the same post, now said to be the intruder's.
        var forged = genuine with
        {
            EventId = ScheduledPosts.ServiceDefaults.Ids.New("evt"),
            Type = "post.published",
            WorkspaceId = intruder,
            Data = With(genuine.Data, "workspaceId", intruder),
        };
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
}

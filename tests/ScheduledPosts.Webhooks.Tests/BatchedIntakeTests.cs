using Microsoft.Extensions.DependencyInjection;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Testing;
using ScheduledPosts.Webhooks.Deliveries;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>
/// Issue 16: the events the consumers take at once are recorded in one statement. Each is answered as it would be alone,
/// in the order taken: a post moved to another workspace is refused, whether the batch or the table saw it first; a
/// redelivery is already recorded; each recorded event has one delivery per subscribed endpoint, and no other.
/// </summary>
public sealed class BatchedIntakeTests(StrictWebhooksApp app) : IClassFixture<StrictWebhooksApp>
{
    // Allowed by the strict rules, and never answers: what is recorded is all the test looks at.
    private const string Nowhere = "https://10.99.0.9/hooks";

    [Fact]
    public async Task Events_recorded_together_are_each_answered_as_if_alone()
    {
        string owner = WebhooksApp.NewWorkspace(), other = WebhooksApp.NewWorkspace();
        var ownersEndpoint = await app.CreateEndpointAsync(owner, Nowhere, "*");
        var othersEndpoint = await app.CreateEndpointAsync(other, Nowhere, "post.published");
        var store = app.Factory.Services.GetRequiredService<DeliveryStore>();
        var now = DateTimeOffset.UtcNow;

        var known = TestApi.NewEvent(owner);
        Assert.Equal(new RecordedEvent(null, 1), Assert.Single(await store.RecordEventsAsync([(IncomingEvent.From(known), "{}")], now, CancellationToken.None)));

        var knownAgain = known with { EventId = Ids(), Type = "post.published" };
        var knownMoved = known with { EventId = Ids(), WorkspaceId = other };
        var fresh = TestApi.NewEvent(other, "post.published");
        var freshMoved = fresh with { EventId = Ids(), WorkspaceId = owner };
        var unsubscribed = TestApi.NewEvent(other, "post.cancelled");
        PostEvent[] batch = [knownAgain, knownMoved, fresh, freshMoved, fresh, unsubscribed, known];

        var answers = await store.RecordEventsAsync([.. batch.Select(e => (IncomingEvent.From(e), "{}"))], now, CancellationToken.None);

        Assert.Equal(new RecordedEvent(null, 1), answers[0]);
        Assert.Contains("another workspace", answers[1].Refusal, StringComparison.Ordinal);
        Assert.Equal(new RecordedEvent(null, 1), answers[2]);
        Assert.Contains("another workspace", answers[3].Refusal, StringComparison.Ordinal);
        Assert.Equal(new RecordedEvent(null, null), answers[4]);
        Assert.Equal(new RecordedEvent(null, 0), answers[5]);
        Assert.Equal(new RecordedEvent(null, null), answers[6]);
        Assert.Equal(batch.Length, answers.Count);

        var recorded = await app.QueryAsync<(string Id, string Workspace)>(
            "SELECT id, workspace_id FROM webhooks.events WHERE id = ANY(@ids) ORDER BY id", new { ids = batch.Select(e => e.EventId).ToArray() });
        Assert.Equal(
            new[] { (known.EventId, owner), (knownAgain.EventId, owner), (fresh.EventId, other), (unsubscribed.EventId, other) }.OrderBy(r => r.Item1, StringComparer.Ordinal),
            recorded);
        var deliveries = await app.QueryAsync<(string EventId, string EndpointId)>(
            "SELECT event_id, endpoint_id FROM webhooks.deliveries WHERE event_id = ANY(@ids)", new { ids = batch.Select(e => e.EventId).ToArray() });
        Assert.Equal(
            new[] { (known.EventId, ownersEndpoint.Id), (knownAgain.EventId, ownersEndpoint.Id), (fresh.EventId, othersEndpoint.Id) }.Order(),
            deliveries.Order());
    }

    [Fact]
    public async Task A_batch_of_events_from_the_bus_is_taken_as_its_events_each_once_however_often_it_comes()
    {
        string owner = WebhooksApp.NewWorkspace(), other = WebhooksApp.NewWorkspace();
        var ownersEndpoint = await app.CreateEndpointAsync(owner, Nowhere, "*");
        var othersEndpoint = await app.CreateEndpointAsync(other, Nowhere, "post.published");
        PostEvent[] events = [TestApi.NewEvent(owner), TestApi.NewEvent(owner, "post.published"), TestApi.NewEvent(other, "post.published"), TestApi.NewEvent(other)];
        var batch = new PostEventBatch { Events = events };

        // As the scheduling service's outbox sends several events written together, and a copy of it (a redelivery).
        await Task.WhenAll(app.PublishAsync(batch), app.PublishAsync(batch));

        await Eventually.Until(() => Task.FromResult(events.Min(e => app.Consumed.Count(e.EventId))), n => n == 2, TestApi.Patience, "both copies of the batch taken");
        string[] ids = [.. events.Select(e => e.EventId)];
        Assert.Equal(events.Select(e => (e.EventId, e.WorkspaceId)).Order(),
            (await app.QueryAsync<(string, string)>("SELECT id, workspace_id FROM webhooks.events WHERE id = ANY(@ids)", new { ids })).Order());
        Assert.Equal(
            new[] { (ids[0], ownersEndpoint.Id), (ids[1], ownersEndpoint.Id), (ids[2], othersEndpoint.Id) }.Order(),
            (await app.QueryAsync<(string, string)>("SELECT event_id, endpoint_id FROM webhooks.deliveries WHERE event_id = ANY(@ids)", new { ids })).Order());
    }

    private static string Ids() => ScheduledPosts.ServiceDefaults.Ids.New("evt");
}

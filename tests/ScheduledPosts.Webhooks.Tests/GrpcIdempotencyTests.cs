using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using ScheduledPosts.Contracts.Webhooks.V1;
using ScheduledPosts.Testing;
using static ScheduledPosts.Testing.GrpcErrors;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>
/// <c>idempotency-key</c> metadata on the webhooks gRPC API (docs/api.md#grpc): a changing call repeated with the same
/// key answers its first answer and changes nothing more; the same key with another request is refused; keys are per
/// workspace.
/// </summary>
public sealed class GrpcIdempotencyTests(DeliveringWebhooksApp app) : IClassFixture<DeliveringWebhooksApp>, IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TestApi.Patience;
    private GrpcChannel _channel = null!;
    private Receiver _receiver = null!;

    public async Task InitializeAsync()
    {
        _channel = GrpcChannel.ForAddress(app.Factory.Server.BaseAddress, new GrpcChannelOptions { HttpHandler = app.GrpcHandler() });
        _receiver = await Receiver.StartAsync();
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _receiver.DisposeAsync();
    }

    private WebhookEndpoints.WebhookEndpointsClient Endpoints => new(_channel);

    private WebhookDeliveries.WebhookDeliveriesClient Deliveries => new(_channel);

    private static Metadata Keyed(string workspace, string key)
        => new() { { WebhooksApp.WorkspaceMetadata, workspace }, { "idempotency-key", key } };

    private static string NewKey() => $"key-{Guid.NewGuid():N}";

    private CreateWebhookEndpointRequest NewEndpoint() => new() { Url = _receiver.NewUrl(), EventTypes = { "*" }, Description = "CRM" };

    private async Task<IReadOnlyList<string>> EndpointIdsAsync(string workspace)
        => [.. (await Endpoints.ListWebhookEndpointsAsync(new ListWebhookEndpointsRequest(), WebhooksApp.As(workspace))).WebhookEndpoints.Select(e => e.Id)];

    [Fact]
    public async Task A_repeated_create_makes_one_endpoint_and_answers_the_first_answer_again()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var key = Keyed(workspace, NewKey());
        var request = NewEndpoint();

        var first = await Endpoints.CreateWebhookEndpointAsync(request, key);
        var repeated = Endpoints.CreateWebhookEndpointAsync(request, key);

        Assert.Equal(first, await repeated);
        Assert.Equal("true", (await repeated.ResponseHeadersAsync).GetValue("idempotent-replayed"));
        Assert.Equal([first.WebhookEndpoint.Id], await EndpointIdsAsync(workspace));
        // Without a key the same request is a new endpoint.
        await Endpoints.CreateWebhookEndpointAsync(request, WebhooksApp.As(workspace));
        Assert.Equal(2, (await EndpointIdsAsync(workspace)).Count);
    }

    [Fact]
    public async Task A_repeated_test_event_makes_one_delivery_and_a_repeated_redeliver_one_more_attempt()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = (await Endpoints.CreateWebhookEndpointAsync(NewEndpoint(), WebhooksApp.As(workspace))).WebhookEndpoint;
        var testKey = Keyed(workspace, NewKey());
        var test = await Endpoints.SendTestEventAsync(new SendTestEventRequest { WebhookEndpointId = endpoint.Id }, testKey);
        Assert.Equal(test.Id, (await Endpoints.SendTestEventAsync(new SendTestEventRequest { WebhookEndpointId = endpoint.Id }, testKey)).Id);
        var get = new GetDeliveryRequest { DeliveryId = test.Id };
        await Eventually.Until(() => Deliveries.GetDeliveryAsync(get, WebhooksApp.As(workspace)).ResponseAsync,
            d => d.Status == DeliveryStatus.Delivered, Timeout, "the test event delivered");

        var redeliverKey = Keyed(workspace, NewKey());
        var redeliver = new RedeliverDeliveryRequest { DeliveryId = test.Id };
        var first = await Deliveries.RedeliverDeliveryAsync(redeliver, redeliverKey);
        var redelivered = await Eventually.Until(() => Deliveries.GetDeliveryAsync(get, WebhooksApp.As(workspace)).ResponseAsync,
            d => d.Status == DeliveryStatus.Delivered && d.AttemptCount == 2, Timeout, "the redelivery made");
        var repeated = await Deliveries.RedeliverDeliveryAsync(redeliver, redeliverKey);

        Assert.Equal(first, repeated);
        Assert.Equal(DeliveryStatus.Pending, repeated.Status);
        // A redelivery turns the delivery pending before it answers: this one is still delivered, with two attempts.
        Assert.Equal(redelivered, await Deliveries.GetDeliveryAsync(get, WebhooksApp.As(workspace)));
        var listed = await Deliveries.ListDeliveriesAsync(new ListDeliveriesRequest { WebhookEndpointId = endpoint.Id }, WebhooksApp.As(workspace));
        Assert.Equal([test.Id], listed.Deliveries.Select(d => d.Id));
    }

    [Fact]
    public async Task Repeated_update_rotate_and_delete_answer_their_first_answers_and_change_nothing_more()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var created = await Endpoints.CreateWebhookEndpointAsync(NewEndpoint(), WebhooksApp.As(workspace));
        string id = created.WebhookEndpoint.Id;

        var rotateKey = Keyed(workspace, NewKey());
        var rotated = await Endpoints.RotateWebhookEndpointSecretAsync(new RotateWebhookEndpointSecretRequest { WebhookEndpointId = id }, rotateKey);
        Assert.Equal(rotated, await Endpoints.RotateWebhookEndpointSecretAsync(new RotateWebhookEndpointSecretRequest { WebhookEndpointId = id }, rotateKey));

        // The same update twice; between them another caller changes the description: the repeat does not change it back.
        var updateKey = Keyed(workspace, NewKey());
        var update = new UpdateWebhookEndpointRequest
        {
            WebhookEndpoint = new WebhookEndpoint { Id = id, Description = "first" },
            UpdateMask = new FieldMask { Paths = { "description" } },
        };
        var updated = await Endpoints.UpdateWebhookEndpointAsync(update, updateKey);
        var other = update.Clone();
        other.WebhookEndpoint.Description = "second";
        await Endpoints.UpdateWebhookEndpointAsync(other, WebhooksApp.As(workspace));
        Assert.Equal(updated, await Endpoints.UpdateWebhookEndpointAsync(update, updateKey));
        var get = new GetWebhookEndpointRequest { WebhookEndpointId = id };
        Assert.Equal("second", (await Endpoints.GetWebhookEndpointAsync(get, WebhooksApp.As(workspace))).Description);

        // A repeated delete answers as the first did, not NOT_FOUND.
        var deleteKey = Keyed(workspace, NewKey());
        var delete = new DeleteWebhookEndpointRequest { WebhookEndpointId = id };
        Assert.Equal(id, (await Endpoints.DeleteWebhookEndpointAsync(delete, deleteKey)).WebhookEndpointId);
        Assert.Equal(id, (await Endpoints.DeleteWebhookEndpointAsync(delete, deleteKey)).WebhookEndpointId);
        await AssertFails(StatusCode.NotFound, "NOT_FOUND", () => Endpoints.DeleteWebhookEndpointAsync(delete, WebhooksApp.As(workspace)).ResponseAsync);
    }

    [Fact]
    public async Task The_same_key_with_another_request_is_refused_and_changes_nothing()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var key = Keyed(workspace, NewKey());
        var first = await Endpoints.CreateWebhookEndpointAsync(NewEndpoint(), key);

        var error = await AssertFails(StatusCode.InvalidArgument, "IDEMPOTENCY_KEY_REUSED",
            () => Endpoints.CreateWebhookEndpointAsync(NewEndpoint(), key).ResponseAsync);
        Assert.Contains("different request", error.Message, StringComparison.Ordinal);
        // Another method with the same request fields is another request too.
        await AssertFails(StatusCode.InvalidArgument, "IDEMPOTENCY_KEY_REUSED", () => Endpoints.RotateWebhookEndpointSecretAsync(
            new RotateWebhookEndpointSecretRequest { WebhookEndpointId = first.WebhookEndpoint.Id }, key).ResponseAsync);

        Assert.Equal([first.WebhookEndpoint.Id], await EndpointIdsAsync(workspace));
        var get = new GetWebhookEndpointRequest { WebhookEndpointId = first.WebhookEndpoint.Id };
        Assert.Equal(first.WebhookEndpoint, await Endpoints.GetWebhookEndpointAsync(get, WebhooksApp.As(workspace)));
    }

    [Fact]
    public async Task Keys_are_per_workspace()
    {
        string one = WebhooksApp.NewWorkspace();
        string two = WebhooksApp.NewWorkspace();
        string key = NewKey();
        var request = NewEndpoint();

        var inOne = await Endpoints.CreateWebhookEndpointAsync(request, Keyed(one, key));
        var sameRequestInTwo = Endpoints.CreateWebhookEndpointAsync(request, Keyed(two, key));
        var inTwo = await sameRequestInTwo;
        var otherRequestInThree = await Endpoints.CreateWebhookEndpointAsync(NewEndpoint(), Keyed(WebhooksApp.NewWorkspace(), key));

        Assert.NotEqual(inOne.WebhookEndpoint.Id, inTwo.WebhookEndpoint.Id);
        Assert.Null((await sameRequestInTwo.ResponseHeadersAsync).GetValue("idempotent-replayed"));
        Assert.StartsWith("we_", otherRequestInThree.WebhookEndpoint.Id, StringComparison.Ordinal);
        Assert.Equal([inOne.WebhookEndpoint.Id], await EndpointIdsAsync(one));
        Assert.Equal([inTwo.WebhookEndpoint.Id], await EndpointIdsAsync(two));
        // Each workspace's key still replays its own first answer.
        Assert.Equal(inTwo, await Endpoints.CreateWebhookEndpointAsync(request, Keyed(two, key)));
        Assert.Equal(inOne, await Endpoints.CreateWebhookEndpointAsync(request, Keyed(one, key)));
    }
}

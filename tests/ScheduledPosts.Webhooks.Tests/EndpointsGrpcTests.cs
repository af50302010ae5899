using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using ScheduledPosts.Contracts.Webhooks.V1;
using Google.Rpc;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Webhooks.Tests;

public sealed class EndpointsGrpcTests(StrictWebhooksApp app) : IClassFixture<StrictWebhooksApp>, IDisposable
{
    private readonly GrpcChannel _channel = GrpcChannel.ForAddress(app.Factory.Server.BaseAddress,
        new GrpcChannelOptions { HttpHandler = app.GrpcHandler() });

    private WebhookEndpoints.WebhookEndpointsClient Client => new(_channel);

    private static Metadata As(string workspaceId) => WebhooksApp.As(workspaceId);

    [Fact]
    public async Task Endpoints_created_over_grpc_are_read_over_grpc_and_rest()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var request = new CreateEndpointRequest { Url = "https://hooks.example.com/grpc", Events = { "post.cancelled" } };

        var created = await Client.CreateEndpointAsync(request, As(workspace));

        Assert.StartsWith("we_", created.Endpoint.Id, StringComparison.Ordinal);
        Assert.StartsWith("whsec_", created.Secret, StringComparison.Ordinal);
        Assert.True(created.Endpoint.Enabled);
        var fetched = await Client.GetEndpointAsync(new GetEndpointRequest { EndpointId = created.Endpoint.Id }, As(workspace));
        Assert.Equal(created.Endpoint, fetched);
        var listed = await Client.ListEndpointsAsync(new ListEndpointsRequest(), As(workspace));
        Assert.Equal(created.Endpoint, Assert.Single(listed.Endpoints));

        using var rest = app.ClientFor(workspace);
        var json = await rest.GetFromJsonAsync<JsonElement>($"/v1/webhook-endpoints/{created.Endpoint.Id}");
        Assert.Equal("https://hooks.example.com/grpc", json.GetProperty("url").GetString());
    }

    [Fact]
    public async Task Invalid_input_is_invalid_argument_with_the_envelope_code()
    {
        var request = new CreateEndpointRequest { Url = "http://hooks.example.com/plain", Events = { "*" } };

        var error = await Assert.ThrowsAsync<RpcException>(() => Client.CreateEndpointAsync(request, As(WebhooksApp.NewWorkspace())).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("VALIDATION", Reason(error));
    }

    [Fact]
    public async Task Another_workspaces_endpoint_is_not_found_and_no_identity_is_unauthenticated()
    {
        var created = await Client.CreateEndpointAsync(
            new CreateEndpointRequest { Url = "https://hooks.example.com/mine", Events = { "*" } }, As(WebhooksApp.NewWorkspace()));
        var get = new GetEndpointRequest { EndpointId = created.Endpoint.Id };

        var notFound = await Assert.ThrowsAsync<RpcException>(() => Client.GetEndpointAsync(get, As(WebhooksApp.NewWorkspace())).ResponseAsync);
        var anonymous = await Assert.ThrowsAsync<RpcException>(() => Client.GetEndpointAsync(get).ResponseAsync);

        Assert.Equal(StatusCode.NotFound, notFound.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);
    }

    [Fact]
    public async Task Endpoints_are_updated_rotated_and_deleted_over_grpc()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var created = await Client.CreateEndpointAsync(
            new CreateEndpointRequest { Url = "https://hooks.example.com/grpc", Events = { "post.cancelled" }, Description = "CRM" }, As(workspace));
        string id = created.Endpoint.Id;

        var updated = await Client.UpdateEndpointAsync(
            new UpdateEndpointRequest { EndpointId = id, Events = new EventTypeList { Values = { "post.published" } }, Enabled = false }, As(workspace));
        var rotated = await Client.RotateEndpointSecretAsync(new RotateEndpointSecretRequest { EndpointId = id }, As(workspace));
        var deliveries = await Client.ListDeliveriesAsync(new ListDeliveriesRequest { EndpointId = id }, As(workspace));
        var badLimit = await Assert.ThrowsAsync<RpcException>(() =>
            Client.ListDeliveriesAsync(new ListDeliveriesRequest { EndpointId = id, Limit = 500 }, As(workspace)).ResponseAsync);
        var deleted = await Client.DeleteEndpointAsync(new DeleteEndpointRequest { EndpointId = id }, As(workspace));
        var gone = await Assert.ThrowsAsync<RpcException>(() => Client.GetEndpointAsync(new GetEndpointRequest { EndpointId = id }, As(workspace)).ResponseAsync);

        Assert.Equal(["post.published"], updated.Events);
        Assert.False(updated.Enabled);
        Assert.Equal("Disabled through the API.", updated.DisabledReason);
        Assert.Equal("https://hooks.example.com/grpc", updated.Url);
        Assert.Equal("CRM", updated.Description);
        Assert.StartsWith("whsec_", rotated.Secret, StringComparison.Ordinal);
        Assert.NotEqual(created.Secret, rotated.Secret);
        Assert.NotEmpty(rotated.PreviousSecretExpiresAt);
        Assert.Empty(deliveries.Deliveries);
        Assert.False(deliveries.HasMore);
        Assert.Equal(StatusCode.InvalidArgument, badLimit.StatusCode);
        Assert.Equal("VALIDATION", Reason(badLimit));
        Assert.True(deleted.Deleted);
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task Test_events_and_redeliveries_are_refused_over_grpc_as_over_rest()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var created = await Client.CreateEndpointAsync(
            new CreateEndpointRequest { Url = "https://hooks.example.com/grpc", Events = { "*" } }, As(workspace));
        await Client.UpdateEndpointAsync(new UpdateEndpointRequest { EndpointId = created.Endpoint.Id, Enabled = false }, As(workspace));

        var disabled = await Assert.ThrowsAsync<RpcException>(() =>
            Client.SendTestEventAsync(new SendTestEventRequest { EndpointId = created.Endpoint.Id }, As(workspace)).ResponseAsync);
        var missing = await Assert.ThrowsAsync<RpcException>(() =>
            Client.RedeliverAsync(new RedeliverRequest { DeliveryId = "dlv_missing" }, As(workspace)).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, disabled.StatusCode);
        Assert.Equal("CONFLICT", Reason(disabled));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    public void Dispose() => _channel.Dispose();

    // The REST error code, as google.rpc.ErrorInfo's reason in grpc-status-details-bin.
    private static string? Reason(RpcException error) => error.GetRpcStatus()?.GetDetail<ErrorInfo>()?.Reason;
}

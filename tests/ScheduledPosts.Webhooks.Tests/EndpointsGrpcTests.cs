using System.Net.Http.Json;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using ScheduledPosts.Contracts.Webhooks.V1;
using static ScheduledPosts.Testing.GrpcErrors;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>
/// The typed webhooks gRPC API (webhooks.proto): each RPC's answer and its main error, with the error details a caller
/// reads (ErrorInfo reason = the REST code, BadRequest fields by proto path). Deliveries end to end: DeliveryTests.
/// </summary>
public sealed class EndpointsGrpcTests(StrictWebhooksApp app) : IClassFixture<StrictWebhooksApp>, IDisposable
{
    private readonly GrpcChannel _channel = GrpcChannel.ForAddress(app.Factory.Server.BaseAddress,
        new GrpcChannelOptions { HttpHandler = app.GrpcHandler() });

    private WebhookEndpoints.WebhookEndpointsClient Endpoints => new(_channel);

    private WebhookDeliveries.WebhookDeliveriesClient Deliveries => new(_channel);

    private static Metadata As(string workspaceId) => WebhooksApp.As(workspaceId);

    private async Task<(string Workspace, CreateWebhookEndpointResponse Created)> CreateAsync(params string[] eventTypes)
    {
        string workspace = WebhooksApp.NewWorkspace();
        var request = new CreateWebhookEndpointRequest { Url = "https://hooks.example.com/grpc", Description = "CRM" };
        request.EventTypes.AddRange(eventTypes.Length > 0 ? eventTypes : ["post.cancelled"]);
        return (workspace, await Endpoints.CreateWebhookEndpointAsync(request, As(workspace)));
    }

    [Fact]
    public async Task Created_endpoints_are_read_over_grpc_and_rest_and_bad_input_names_the_proto_fields()
    {
        var (workspace, created) = await CreateAsync();

        Assert.StartsWith("we_", created.WebhookEndpoint.Id, StringComparison.Ordinal);
        Assert.StartsWith("whsec_", created.Secret, StringComparison.Ordinal);
        Assert.True(created.WebhookEndpoint.Enabled);
        Assert.NotNull(created.WebhookEndpoint.CreateTime);
        var fetched = await Endpoints.GetWebhookEndpointAsync(new GetWebhookEndpointRequest { WebhookEndpointId = created.WebhookEndpoint.Id }, As(workspace));
        Assert.Equal(created.WebhookEndpoint, fetched);
        var listed = await Endpoints.ListWebhookEndpointsAsync(new ListWebhookEndpointsRequest(), As(workspace));
        Assert.Equal(created.WebhookEndpoint, Assert.Single(listed.WebhookEndpoints));
        using var rest = app.ClientFor(workspace);
        var json = await rest.GetFromJsonAsync<JsonElement>($"/v1/webhook-endpoints/{created.WebhookEndpoint.Id}");
        Assert.Equal("https://hooks.example.com/grpc", json.GetProperty("url").GetString());

        var request = new CreateWebhookEndpointRequest { Url = "http://hooks.example.com/plain", EventTypes = { "*", "post.nonsense" } };
        var error = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", () => Endpoints.CreateWebhookEndpointAsync(request, As(workspace)).ResponseAsync);
        Assert.Equal(["url", "event_types[1]"], Fields(error));
    }

    [Fact]
    public async Task ListWebhookEndpoints_pages_by_id_and_refuses_a_page_token_it_did_not_give()
    {
        var (workspace, first) = await CreateAsync();
        var created = new List<string> { first.WebhookEndpoint.Id };
        for (int i = 0; i < 2; i++)
        {
            var request = new CreateWebhookEndpointRequest { Url = $"https://hooks.example.com/grpc-{i}", EventTypes = { "post.cancelled" } };
            created.Add((await Endpoints.CreateWebhookEndpointAsync(request, As(workspace))).WebhookEndpoint.Id);
        }

        var page1 = await Endpoints.ListWebhookEndpointsAsync(new ListWebhookEndpointsRequest { PageSize = 2 }, As(workspace));
        Assert.NotEmpty(page1.NextPageToken);
        var page2 = await Endpoints.ListWebhookEndpointsAsync(new ListWebhookEndpointsRequest { PageSize = 2, PageToken = page1.NextPageToken }, As(workspace));
        Assert.Empty(page2.NextPageToken);
        Assert.Equal(created.Order(StringComparer.Ordinal), page1.WebhookEndpoints.Concat(page2.WebhookEndpoints).Select(e => e.Id));

        var forged = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            () => Endpoints.ListWebhookEndpointsAsync(new ListWebhookEndpointsRequest { PageToken = "forged" }, As(workspace)).ResponseAsync);
        Assert.Equal(["page_token"], Fields(forged));
    }

    [Fact]
    public async Task Another_workspaces_endpoint_is_not_found_and_no_identity_is_unauthenticated()
    {
        var (_, created) = await CreateAsync();
        var get = new GetWebhookEndpointRequest { WebhookEndpointId = created.WebhookEndpoint.Id };

        await AssertFails(StatusCode.NotFound, "NOT_FOUND", () => Endpoints.GetWebhookEndpointAsync(get, As(WebhooksApp.NewWorkspace())).ResponseAsync);
        await AssertFails(StatusCode.Unauthenticated, "UNAUTHENTICATED", () => Endpoints.GetWebhookEndpointAsync(get).ResponseAsync);
        Assert.Empty((await Endpoints.ListWebhookEndpointsAsync(new ListWebhookEndpointsRequest(), As(WebhooksApp.NewWorkspace()))).WebhookEndpoints);
    }

    [Fact]
    public async Task UpdateWebhookEndpoint_changes_the_fields_its_mask_names_and_refuses_a_missing_mask()
    {
        var (workspace, created) = await CreateAsync();
        var change = new WebhookEndpoint { Id = created.WebhookEndpoint.Id, EventTypes = { "post.published" }, Enabled = false, Url = "https://ignored.example.com" };

        var updated = await Endpoints.UpdateWebhookEndpointAsync(new UpdateWebhookEndpointRequest
        {
            WebhookEndpoint = change,
            UpdateMask = new FieldMask { Paths = { "event_types", "enabled" } },
        }, As(workspace));

        Assert.Equal(["post.published"], updated.EventTypes);
        Assert.False(updated.Enabled);
        Assert.Equal("Disabled through the API.", updated.DisabledReason);
        Assert.Equal("https://hooks.example.com/grpc", updated.Url); // not in the mask
        Assert.Equal("CRM", updated.Description);

        var noMask = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            () => Endpoints.UpdateWebhookEndpointAsync(new UpdateWebhookEndpointRequest { WebhookEndpoint = change }, As(workspace)).ResponseAsync);
        Assert.Equal(["update_mask"], Fields(noMask));
        var badEvents = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", () => Endpoints.UpdateWebhookEndpointAsync(new UpdateWebhookEndpointRequest
        {
            WebhookEndpoint = new WebhookEndpoint { Id = change.Id },
            UpdateMask = new FieldMask { Paths = { "event_types" } },
        }, As(workspace)).ResponseAsync);
        Assert.Equal(["webhook_endpoint.event_types"], Fields(badEvents));
    }

    [Fact]
    public async Task RotateWebhookEndpointSecret_answers_a_new_secret_and_an_unknown_endpoint_is_not_found()
    {
        var (workspace, created) = await CreateAsync();
        var rotated = await Endpoints.RotateWebhookEndpointSecretAsync(
            new RotateWebhookEndpointSecretRequest { WebhookEndpointId = created.WebhookEndpoint.Id }, As(workspace));

        Assert.StartsWith("whsec_", rotated.Secret, StringComparison.Ordinal);
        Assert.NotEqual(created.Secret, rotated.Secret);
        Assert.True(rotated.PreviousSecretExpireTime.ToDateTimeOffset() > DateTimeOffset.UtcNow);
        await AssertFails(StatusCode.NotFound, "NOT_FOUND", () => Endpoints.RotateWebhookEndpointSecretAsync(
            new RotateWebhookEndpointSecretRequest { WebhookEndpointId = "we_missing" }, As(workspace)).ResponseAsync);
    }

    [Fact]
    public async Task DeleteWebhookEndpoint_removes_it_and_a_second_delete_is_not_found()
    {
        var (workspace, created) = await CreateAsync();
        var delete = new DeleteWebhookEndpointRequest { WebhookEndpointId = created.WebhookEndpoint.Id };

        Assert.Equal(created.WebhookEndpoint.Id, (await Endpoints.DeleteWebhookEndpointAsync(delete, As(workspace))).WebhookEndpointId);
        await AssertFails(StatusCode.NotFound, "NOT_FOUND", () => Endpoints.GetWebhookEndpointAsync(
            new GetWebhookEndpointRequest { WebhookEndpointId = created.WebhookEndpoint.Id }, As(workspace)).ResponseAsync);
        await AssertFails(StatusCode.NotFound, "NOT_FOUND", () => Endpoints.DeleteWebhookEndpointAsync(delete, As(workspace)).ResponseAsync);
    }

    [Fact]
    public async Task SendTestEvent_is_refused_for_a_disabled_endpoint_and_a_missing_delivery_cannot_be_redelivered()
    {
        var (workspace, created) = await CreateAsync("*");
        await Endpoints.UpdateWebhookEndpointAsync(new UpdateWebhookEndpointRequest
        {
            WebhookEndpoint = new WebhookEndpoint { Id = created.WebhookEndpoint.Id, Enabled = false },
            UpdateMask = new FieldMask { Paths = { "enabled" } },
        }, As(workspace));

        await AssertFails(StatusCode.FailedPrecondition, "CONFLICT", () => Endpoints.SendTestEventAsync(
            new SendTestEventRequest { WebhookEndpointId = created.WebhookEndpoint.Id }, As(workspace)).ResponseAsync);
        await AssertFails(StatusCode.NotFound, "NOT_FOUND",
            () => Deliveries.RedeliverDeliveryAsync(new RedeliverDeliveryRequest { DeliveryId = "dlv_missing" }, As(workspace)).ResponseAsync);
        await AssertFails(StatusCode.NotFound, "NOT_FOUND",
            () => Deliveries.GetDeliveryAsync(new GetDeliveryRequest { DeliveryId = "dlv_missing" }, As(workspace)).ResponseAsync);
    }

    [Fact]
    public async Task ListDeliveries_answers_a_page_and_refuses_a_token_it_did_not_give()
    {
        var (workspace, created) = await CreateAsync();
        var page = await Deliveries.ListDeliveriesAsync(new ListDeliveriesRequest { WebhookEndpointId = created.WebhookEndpoint.Id, PageSize = 500 }, As(workspace));
        Assert.Empty(page.Deliveries);
        Assert.Empty(page.NextPageToken);

        var badToken = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", () => Deliveries.ListDeliveriesAsync(
            new ListDeliveriesRequest { WebhookEndpointId = created.WebhookEndpoint.Id, PageToken = "nope" }, As(workspace)).ResponseAsync);
        Assert.Equal(["page_token"], Fields(badToken));
        await AssertFails(StatusCode.NotFound, "NOT_FOUND", () => Deliveries.ListDeliveriesAsync(
            new ListDeliveriesRequest { WebhookEndpointId = "we_missing" }, As(workspace)).ResponseAsync);
    }

    public void Dispose() => _channel.Dispose();
}

using Grpc.Core;
using ScheduledPosts.Contracts.Webhooks.V1;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;
using ScheduledPosts.Webhooks.Endpoints;
using WebhookEndpointMessage = ScheduledPosts.Contracts.Webhooks.V1.WebhookEndpoint;

namespace ScheduledPosts.Webhooks.Grpc;

/// <summary>gRPC over the same <see cref="EndpointRegistry"/>; the caller is the <c>x-sp-identity</c> the middleware verified.</summary>
public sealed class WebhookEndpointsGrpcService(EndpointRegistry registry) : WebhookEndpoints.WebhookEndpointsBase
{
    public override async Task<CreateEndpointResponse> CreateEndpoint(CreateEndpointRequest request, ServerCallContext context)
    {
        var created = await registry.CreateAsync(Caller(context), request.Url, request.Events, request.Description, context.CancellationToken);
        return new CreateEndpointResponse { Endpoint = ToMessage(created.Endpoint), Secret = created.Secret };
    }

    public override async Task<WebhookEndpointMessage> GetEndpoint(GetEndpointRequest request, ServerCallContext context)
        => ToMessage(await registry.GetAsync(Caller(context), request.EndpointId, context.CancellationToken));

    public override async Task<ListEndpointsResponse> ListEndpoints(ListEndpointsRequest request, ServerCallContext context)
    {
        var endpoints = await registry.ListAsync(Caller(context), context.CancellationToken);
        var response = new ListEndpointsResponse();
        response.Endpoints.AddRange(endpoints.Select(ToMessage));
        return response;
    }

    private static InternalIdentity Caller(ServerCallContext context) => InternalIdentityMiddleware.Current(context.GetHttpContext());

    private static WebhookEndpointMessage ToMessage(Endpoints.WebhookEndpoint e)
    {
        var message = new WebhookEndpointMessage
        {
            Id = e.Id, Url = e.Url, Description = e.Description ?? "", Enabled = e.Enabled, CreatedAt = JsonDefaults.Format(e.CreatedAt),
        };
        message.Events.AddRange(e.Events);
        return message;
    }
}

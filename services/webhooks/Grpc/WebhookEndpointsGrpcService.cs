using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ScheduledPosts.Contracts.Webhooks.V1;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Webhooks.Endpoints;
using static ScheduledPosts.Webhooks.Grpc.Messages;
using WebhookEndpointMessage = ScheduledPosts.Contracts.Webhooks.V1.WebhookEndpoint;

namespace ScheduledPosts.Webhooks.Grpc;

/// <summary>
/// Webhook endpoints for internal callers (webhooks.proto), over the same <see cref="EndpointRegistry"/> as REST; the
/// caller is the identity the authentication handler verified; each method's policy names its scope.
/// </summary>
public sealed class WebhookEndpointsGrpcService(EndpointRegistry registry) : WebhookEndpoints.WebhookEndpointsBase
{
    private static readonly string[] UpdatableFields = ["url", "event_types", "description", "enabled"];

    [Authorize(Policy = InternalPolicies.WebhooksWrite)]
    public override async Task<CreateWebhookEndpointResponse> CreateWebhookEndpoint(CreateWebhookEndpointRequest request, ServerCallContext context)
    {
        var created = await Renamed(() => registry.CreateAsync(Caller(context), request.Url, request.EventTypes,
            request.Description.Length > 0 ? request.Description : null, context.CancellationToken));
        return new CreateWebhookEndpointResponse { WebhookEndpoint = Endpoint(created.Endpoint), Secret = created.Secret };
    }

    [Authorize(Policy = InternalPolicies.WebhooksRead)]
    public override async Task<WebhookEndpointMessage> GetWebhookEndpoint(GetWebhookEndpointRequest request, ServerCallContext context)
        => Endpoint(await registry.GetAsync(Caller(context), request.WebhookEndpointId, context.CancellationToken));

    [Authorize(Policy = InternalPolicies.WebhooksRead)]
    public override async Task<ListWebhookEndpointsResponse> ListWebhookEndpoints(ListWebhookEndpointsRequest request, ServerCallContext context)
    {
        var (endpoints, next) = await registry.ListAsync(Caller(context), PageRequest.Parse(request.PageSize, request.PageToken), context.CancellationToken);
        var response = new ListWebhookEndpointsResponse { NextPageToken = next ?? "" };
        response.WebhookEndpoints.AddRange(endpoints.Select(Endpoint));
        return response;
    }

    [Authorize(Policy = InternalPolicies.WebhooksWrite)]
    public override async Task<WebhookEndpointMessage> UpdateWebhookEndpoint(UpdateWebhookEndpointRequest request, ServerCallContext context)
    {
        var endpoint = request.WebhookEndpoint ?? throw ApiException.Validation("webhook_endpoint", "webhook_endpoint is required: its id and new values.");
        if (request.UpdateMask is not { Paths.Count: > 0 } mask)
        {
            throw ApiException.Validation("update_mask", $"update_mask must name the fields to change: any of {string.Join(", ", UpdatableFields)}.");
        }

        if (mask.Paths.FirstOrDefault(p => !UpdatableFields.Contains(p)) is { } unknown)
        {
            throw ApiException.Validation("update_mask", $"update_mask may name only {string.Join(", ", UpdatableFields)}, not '{unknown}'.");
        }

        var changes = new EndpointChanges(
            mask.Paths.Contains("url") ? endpoint.Url : null,
            mask.Paths.Contains("event_types") ? endpoint.EventTypes.ToList() : null,
            SetDescription: mask.Paths.Contains("description"),
            Description: mask.Paths.Contains("description") ? endpoint.Description : null,
            Enabled: mask.Paths.Contains("enabled") ? endpoint.Enabled : null);
        return Endpoint(await Renamed(() => registry.UpdateAsync(Caller(context), endpoint.Id, changes, context.CancellationToken), "webhook_endpoint."));
    }

    [Authorize(Policy = InternalPolicies.WebhooksWrite)]
    public override async Task<DeleteWebhookEndpointResponse> DeleteWebhookEndpoint(DeleteWebhookEndpointRequest request, ServerCallContext context)
    {
        await registry.DeleteAsync(Caller(context), request.WebhookEndpointId, context.CancellationToken);
        return new DeleteWebhookEndpointResponse { WebhookEndpointId = request.WebhookEndpointId };
    }

    [Authorize(Policy = InternalPolicies.WebhooksWrite)]
    public override async Task<RotateWebhookEndpointSecretResponse> RotateWebhookEndpointSecret(RotateWebhookEndpointSecretRequest request, ServerCallContext context)
    {
        var rotated = await registry.RotateSecretAsync(Caller(context), request.WebhookEndpointId, context.CancellationToken);
        return new RotateWebhookEndpointSecretResponse
        {
            WebhookEndpoint = Endpoint(rotated.Endpoint), Secret = rotated.Secret, PreviousSecretExpireTime = Time(rotated.PreviousSecretExpiresAt),
        };
    }

    [Authorize(Policy = InternalPolicies.WebhooksWrite)]
    public override async Task<Contracts.Webhooks.V1.Delivery> SendTestEvent(SendTestEventRequest request, ServerCallContext context)
        => Delivery(await registry.SendTestAsync(Caller(context), request.WebhookEndpointId, context.CancellationToken));

    private static InternalIdentity Caller(ServerCallContext context) => InternalCaller.Current(context.GetHttpContext());

    // The rules name REST's `events`; this API's field is `event_types` (within `prefix`, for an update).
    private static async Task<T> Renamed<T>(Func<Task<T>> call, string prefix = "")
    {
        try
        {
            return await call();
        }
        catch (ApiException error) when (error.Code == "VALIDATION" && error.Issues is { Count: > 0 } issues)
        {
            throw ApiException.Validation(issues.Select(i => i with
            {
                Path = prefix + (i.Path.StartsWith("events", StringComparison.Ordinal) ? "event_types" + i.Path["events".Length..] : i.Path),
            }).ToList());
        }
    }
}

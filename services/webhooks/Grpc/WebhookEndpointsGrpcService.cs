using System.Globalization;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ScheduledPosts.Contracts.Webhooks.V1;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;
using ScheduledPosts.Webhooks.Deliveries;
using ScheduledPosts.Webhooks.Endpoints;
using AttemptMessage = ScheduledPosts.Contracts.Webhooks.V1.DeliveryAttempt;
using DeliveryMessage = ScheduledPosts.Contracts.Webhooks.V1.Delivery;
using WebhookEndpointMessage = ScheduledPosts.Contracts.Webhooks.V1.WebhookEndpoint;

namespace ScheduledPosts.Webhooks.Grpc;

/// <summary>gRPC over the same <see cref="EndpointRegistry"/> and <see cref="DeliveryHistory"/>; the caller is the <c>x-sp-identity</c> the authentication handler verified; each method's policy names its scope.</summary>
public sealed class WebhookEndpointsGrpcService(EndpointRegistry registry, DeliveryHistory history) : WebhookEndpoints.WebhookEndpointsBase
{
    [Authorize(Policy = InternalPolicies.WebhooksWrite)]
    public override async Task<CreateEndpointResponse> CreateEndpoint(CreateEndpointRequest request, ServerCallContext context)
    {
        var created = await registry.CreateAsync(Caller(context), request.Url, request.Events, request.Description, context.CancellationToken);
        return new CreateEndpointResponse { Endpoint = ToMessage(created.Endpoint), Secret = created.Secret };
    }

    [Authorize(Policy = InternalPolicies.WebhooksRead)]
    public override async Task<WebhookEndpointMessage> GetEndpoint(GetEndpointRequest request, ServerCallContext context)
        => ToMessage(await registry.GetAsync(Caller(context), request.EndpointId, context.CancellationToken));

    [Authorize(Policy = InternalPolicies.WebhooksRead)]
    public override async Task<ListEndpointsResponse> ListEndpoints(ListEndpointsRequest request, ServerCallContext context)
    {
        var endpoints = await registry.ListAsync(Caller(context), context.CancellationToken);
        var response = new ListEndpointsResponse();
        response.Endpoints.AddRange(endpoints.Select(ToMessage));
        return response;
    }

    [Authorize(Policy = InternalPolicies.WebhooksWrite)]
    public override async Task<WebhookEndpointMessage> UpdateEndpoint(UpdateEndpointRequest request, ServerCallContext context)
    {
        var changes = new EndpointChanges(
            request.HasUrl ? request.Url : null,
            request.Events?.Values.ToList(),
            SetDescription: request.HasDescription,
            Description: request.HasDescription ? request.Description : null,
            Enabled: request.HasEnabled ? request.Enabled : null);
        return ToMessage(await registry.UpdateAsync(Caller(context), request.EndpointId, changes, context.CancellationToken));
    }

    [Authorize(Policy = InternalPolicies.WebhooksWrite)]
    public override async Task<DeleteEndpointResponse> DeleteEndpoint(DeleteEndpointRequest request, ServerCallContext context)
    {
        await registry.DeleteAsync(Caller(context), request.EndpointId, context.CancellationToken);
        return new DeleteEndpointResponse { EndpointId = request.EndpointId, Deleted = true };
    }

    [Authorize(Policy = InternalPolicies.WebhooksWrite)]
    public override async Task<RotateEndpointSecretResponse> RotateEndpointSecret(RotateEndpointSecretRequest request, ServerCallContext context)
    {
        var rotated = await registry.RotateSecretAsync(Caller(context), request.EndpointId, context.CancellationToken);
        return new RotateEndpointSecretResponse
        {
            Endpoint = ToMessage(rotated.Endpoint), Secret = rotated.Secret, PreviousSecretExpiresAt = Format(rotated.PreviousSecretExpiresAt),
        };
    }

    [Authorize(Policy = InternalPolicies.WebhooksWrite)]
    public override async Task<DeliveryMessage> SendTestEvent(SendTestEventRequest request, ServerCallContext context)
        => ToMessage(await registry.SendTestAsync(Caller(context), request.EndpointId, context.CancellationToken));

    [Authorize(Policy = InternalPolicies.WebhooksRead)]
    public override async Task<ListDeliveriesResponse> ListDeliveries(ListDeliveriesRequest request, ServerCallContext context)
    {
        var query = DeliveryRules.ParseQuery(
            request.Status.Length > 0 ? request.Status : null,
            request.Limit != 0 ? request.Limit.ToString(CultureInfo.InvariantCulture) : null,
            request.Cursor);
        var page = await history.ListAsync(Caller(context), request.EndpointId, query, context.CancellationToken);
        var response = new ListDeliveriesResponse { NextCursor = page.NextCursor ?? "", HasMore = page.HasMore };
        response.Deliveries.AddRange(page.Data.Select(ToMessage));
        return response;
    }

    [Authorize(Policy = InternalPolicies.WebhooksRead)]
    public override async Task<DeliveryMessage> GetDelivery(GetDeliveryRequest request, ServerCallContext context)
        => ToMessage(await history.GetAsync(Caller(context), request.DeliveryId, context.CancellationToken));

    [Authorize(Policy = InternalPolicies.WebhooksWrite)]
    public override async Task<DeliveryMessage> Redeliver(RedeliverRequest request, ServerCallContext context)
        => ToMessage(await history.RedeliverAsync(Caller(context), request.DeliveryId, context.CancellationToken));

    private static InternalIdentity Caller(ServerCallContext context) => InternalCaller.Current(context.GetHttpContext());

    private static string Format(DateTimeOffset? value) => value is { } v ? JsonDefaults.Format(v) : "";

    private static WebhookEndpointMessage ToMessage(Endpoints.WebhookEndpoint e)
    {
        var message = new WebhookEndpointMessage
        {
            Id = e.Id, Url = e.Url, Description = e.Description ?? "", Enabled = e.Enabled, DisabledReason = e.DisabledReason ?? "",
            CreatedAt = Format(e.CreatedAt), UpdatedAt = Format(e.UpdatedAt),
        };
        message.Events.AddRange(e.Events);
        return message;
    }

    private static DeliveryMessage ToMessage(DeliveryView d)
    {
        var message = new DeliveryMessage
        {
            Id = d.Id, EndpointId = d.EndpointId, EventId = d.EventId, EventType = d.EventType, Status = d.Status,
            AttemptCount = d.AttemptCount, NextAttemptAt = Format(d.NextAttemptAt), LastAttemptAt = Format(d.LastAttemptAt),
            CreatedAt = Format(d.CreatedAt),
        };
        foreach (var a in d.Attempts)
        {
            var attempt = new AttemptMessage { Attempt = a.Attempt, AttemptedAt = Format(a.AttemptedAt), LatencyMs = a.LatencyMs, Error = a.Error ?? "" };
            if (a.StatusCode is { } code)
            {
                attempt.StatusCode = code;
            }

            message.Attempts.Add(attempt);
        }

        return message;
    }
}

using System.Globalization;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ScheduledPosts.Contracts.Webhooks.V1;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Webhooks.Deliveries;
using static ScheduledPosts.Webhooks.Grpc.Messages;

namespace ScheduledPosts.Webhooks.Grpc;

/// <summary>Webhook deliveries for internal callers (webhooks.proto), over the same <see cref="DeliveryHistory"/> as REST.</summary>
public sealed class WebhookDeliveriesGrpcService(DeliveryHistory history) : WebhookDeliveries.WebhookDeliveriesBase
{
    [Authorize(Policy = InternalPolicies.WebhooksRead)]
    public override async Task<ListDeliveriesResponse> ListDeliveries(ListDeliveriesRequest request, ServerCallContext context)
    {
        if (request.PageSize < 0)
        {
            throw ApiException.Validation("page_size", "page_size must not be negative.");
        }

        string? status = request.Status switch
        {
            Contracts.Webhooks.V1.DeliveryStatus.Unspecified => null,
            Contracts.Webhooks.V1.DeliveryStatus.Pending => Deliveries.DeliveryStatus.Pending,
            Contracts.Webhooks.V1.DeliveryStatus.Delivered => Deliveries.DeliveryStatus.Delivered,
            Contracts.Webhooks.V1.DeliveryStatus.Failed => Deliveries.DeliveryStatus.Failed,
            _ => throw ApiException.Validation("status", "status is not a delivery status."),
        };
        DeliveryQuery query;
        try
        {
            // AIP-158: a page size above the maximum is taken as the maximum.
            query = DeliveryRules.ParseQuery(status,
                request.PageSize == 0 ? null : Math.Min(request.PageSize, DeliveryRules.MaxPageSize).ToString(CultureInfo.InvariantCulture),
                request.PageToken);
        }
        catch (ApiException error) when (error.Issues is [{ Path: "cursor" }])
        {
            throw ApiException.Validation("page_token", "page_token is not one this API returned.");
        }

        var page = await history.ListAsync(Caller(context), request.WebhookEndpointId, query, context.CancellationToken);
        var response = new ListDeliveriesResponse { NextPageToken = page.NextCursor ?? "" };
        response.Deliveries.AddRange(page.Data.Select(Delivery));
        return response;
    }

    [Authorize(Policy = InternalPolicies.WebhooksRead)]
    public override async Task<Contracts.Webhooks.V1.Delivery> GetDelivery(GetDeliveryRequest request, ServerCallContext context)
        => Delivery(await history.GetAsync(Caller(context), request.DeliveryId, context.CancellationToken));

    [Authorize(Policy = InternalPolicies.WebhooksWrite)]
    public override async Task<Contracts.Webhooks.V1.Delivery> RedeliverDelivery(RedeliverDeliveryRequest request, ServerCallContext context)
        => Delivery(await history.RedeliverAsync(Caller(context), request.DeliveryId, context.CancellationToken));

    private static InternalIdentity Caller(ServerCallContext context) => InternalCaller.Current(context.GetHttpContext());
}

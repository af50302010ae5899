using Google.Protobuf.WellKnownTypes;
using ScheduledPosts.Webhooks.Deliveries;
using V1 = ScheduledPosts.Contracts.Webhooks.V1;

namespace ScheduledPosts.Webhooks.Grpc;

/// <summary>Between the core's views (what REST serializes) and the typed messages of webhooks.proto.</summary>
internal static class Messages
{
    public static V1.WebhookEndpoint Endpoint(Endpoints.WebhookEndpoint e)
    {
        var message = new V1.WebhookEndpoint
        {
            Id = e.Id, Url = e.Url, Description = e.Description ?? "", Enabled = e.Enabled, DisabledReason = e.DisabledReason ?? "",
            CreateTime = Time(e.CreatedAt), UpdateTime = Time(e.UpdatedAt),
        };
        message.EventTypes.AddRange(e.Events);
        return message;
    }

    public static V1.Delivery Delivery(DeliveryView d)
    {
        var message = new V1.Delivery
        {
            Id = d.Id, WebhookEndpointId = d.EndpointId, EventId = d.EventId, EventType = d.EventType, AttemptCount = d.AttemptCount,
            Status = d.Status switch
            {
                DeliveryStatus.Pending => V1.DeliveryStatus.Pending,
                DeliveryStatus.Delivered => V1.DeliveryStatus.Delivered,
                DeliveryStatus.Failed => V1.DeliveryStatus.Failed,
                _ => V1.DeliveryStatus.Unspecified,
            },
            NextAttemptTime = Time(d.NextAttemptAt), LastAttemptTime = Time(d.LastAttemptAt), CreateTime = Time(d.CreatedAt),
        };
        foreach (var a in d.Attempts)
        {
            var attempt = new V1.DeliveryAttempt { Attempt = a.Attempt, AttemptTime = Time(a.AttemptedAt), LatencyMs = a.LatencyMs, Error = a.Error ?? "" };
            if (a.StatusCode is { } code)
            {
                attempt.StatusCode = code;
            }

            message.Attempts.Add(attempt);
        }

        return message;
    }

    public static Timestamp? Time(DateTimeOffset? instant) => instant is { } value ? Timestamp.FromDateTimeOffset(value) : null;
}

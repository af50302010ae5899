using System.Buffers;
using System.Text;
using System.Text.Json;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>The webhook body of docs/api.md#webhooks: <c>{"id", "type", "timestamp", "data"}</c>, with the event's data passed through verbatim.</summary>
public static class WebhookPayload
{
    public static string Build(IncomingEvent e) => Build(e.EventId, e.Type, e.OccurredAt, e.Data);

    /// <summary>The <c>webhook.test</c> body: <c>data</c> names the endpoint it was sent to.</summary>
    public static string BuildTest(string eventId, string endpointId, DateTimeOffset occurredAt)
        => Build(eventId, Endpoints.EventTypes.Test, occurredAt,
            JsonSerializer.SerializeToElement(new { endpointId, message = "A test event sent on request." }, JsonDefaults.Options));

    public static string Build(string eventId, string type, DateTimeOffset occurredAt, JsonElement data)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("id", eventId);
            writer.WriteString("type", type);
            writer.WriteString("timestamp", JsonDefaults.Format(occurredAt));
            writer.WritePropertyName("data");
            if (data.ValueKind == JsonValueKind.Undefined)
            {
                writer.WriteNullValue();
            }
            else
            {
                writer.WriteRawValue(data.GetRawText(), skipInputValidation: true);
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}

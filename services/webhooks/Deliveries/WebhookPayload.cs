using System.Buffers;
using System.Text;
using System.Text.Json;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>The webhook body of SPEC §6: <c>{"id", "type", "timestamp", "data"}</c>, with the event's data passed through verbatim.</summary>
public static class WebhookPayload
{
    public static string Build(PostEvent e)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("id", e.EventId);
            writer.WriteString("type", e.Type);
            writer.WriteString("timestamp", JsonDefaults.Format(e.OccurredAt));
            writer.WritePropertyName("data");
            if (e.Data.ValueKind == JsonValueKind.Undefined)
            {
                writer.WriteNullValue();
            }
            else
            {
                writer.WriteRawValue(e.Data.GetRawText(), skipInputValidation: true);
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}

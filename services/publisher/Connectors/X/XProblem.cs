using System.Text.Json;
using ScheduledPosts.ServiceDefaults.Outbound;

namespace ScheduledPosts.Publisher.Connectors.X;

/// <summary>
/// The reason in an X API error: a problem details object (<c>title</c>, <c>detail</c>, <c>type</c>,
/// https://docs.x.com/xdks/typescript/reference/interfaces/Schemas.Problem) or an
/// <c>errors[0].message</c> (Schemas.Error); sanitised
/// (<see cref="PlatformErrorText.Sanitise"/>), from a body of at most 16 KiB, else null.
/// </summary>
public static class XProblem
{
    private const int MaxBodyBytes = 16 * 1024;

    public static async Task<string?> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[MaxBodyBytes + 1];
            int read = 0;
            int n;
            while (read < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken)) > 0)
            {
                read += n;
            }

            if (read > MaxBodyBytes)
            {
                return null;
            }

            using var json = JsonDocument.Parse(buffer.AsMemory(0, read));
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            string? reason = Text(root, "detail") ?? Text(root, "title");
            if (reason is null && root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0
                && errors[0].ValueKind == JsonValueKind.Object)
            {
                reason = Text(errors[0], "message") ?? Text(errors[0], "detail");
            }

            return reason;
        }
        catch (Exception e) when (e is JsonException or HttpRequestException or IOException)
        {
            return null;
        }

        static string? Text(JsonElement element, string name)
            => element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
               && PlatformErrorText.Sanitise(value.GetString()) is { Length: > 0 } text
                ? text
                : null;
    }
}
